from django.apps import AppConfig


class PrivateMessagesConfig(AppConfig):
    name = "privatemessages"
    verbose_name = "Личные сообщения"
