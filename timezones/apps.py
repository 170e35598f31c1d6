from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TimezonesConfig(AppConfig):
    """The site-wide time zone: read from the browser's cookie, or picked by the user."""

    name = "timezones"
    verbose_name = _("Часовые пояса")
