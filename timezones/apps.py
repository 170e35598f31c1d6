from django.apps import AppConfig


class TimezonesConfig(AppConfig):
    """The site-wide time zone: read from the browser's cookie, or picked by the user."""

    name = "timezones"
    verbose_name = "Часовые пояса"
