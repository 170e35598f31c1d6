from django.apps import AppConfig


class PrivateMessagesConfig(AppConfig):
    name = "privatemessages"
    verbose_name = "Личные сообщения"

    def ready(self) -> None:
        from . import signals

        signals.connect()
