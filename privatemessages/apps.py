from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivateMessagesConfig(AppConfig):
    name = "privatemessages"
    verbose_name = _("Личные сообщения")

    def ready(self) -> None:
        from . import signals

        signals.connect()
