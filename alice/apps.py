from django.apps import AppConfig


class AliceConfig(AppConfig):
    name = "alice"
    verbose_name = "Навыки Алисы"
