from functools import cache

import pytz
from django import forms
from django.utils.translation import gettext_lazy as _

from .middleware import known_zone_names


@cache
def timezone_choices() -> list[tuple[str, str]]:
    """Return pytz's list of common zones (those zoneinfo knows), by name."""
    known = known_zone_names()
    return [(name, name.replace("_", " ")) for name in pytz.common_timezones if name in known]


class TimezoneForm(forms.Form):
    """The zone picker: one of the common zones, or "" for the browser's own."""

    timezone = forms.ChoiceField(label=_("Часовой пояс"), required=False, choices=())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [
            ("", _("Автоматически (как в браузере)")),
            *timezone_choices(),
        ]
