from functools import cache

import pytz
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .middleware import known_zone_names
from .services import MessageError, clean_message_text

# Which form field shows each MessageError code; codes not listed go on top.
ERROR_FIELDS = {
    "empty": "text",
    "too_long": "text",
    "invalid_text": "text",
    "unknown_recipient": "recipient",
    "self_recipient": "recipient",
}


class MessageForm(forms.Form):
    """The new-message form and the chat compose box (fields ``recipient``, ``text``)."""

    recipient = forms.CharField(
        label=_("Кому"),
        max_length=150,
        error_messages={"required": _("Укажите получателя.")},
    )
    # Not required here: the service's own rule rejects empty text, with its
    # own message, so that the form, the API and the WebSocket all agree.
    text = forms.CharField(label=_("Сообщение"), required=False, strip=False)
    # The chat page sends its thread id, so that errors are shown on the chat.
    # Never an error itself: a bad value just means "show them on the thread list".
    thread = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_thread(self) -> int | None:
        value = self.cleaned_data.get("thread", "")
        return int(value) if value.isascii() and value.isdigit() else None

    def clean_text(self) -> str:
        try:
            return clean_message_text(self.cleaned_data.get("text", ""))
        except MessageError as error:
            raise forms.ValidationError(error.message, code=error.code) from None

    def add_message_error(self, error: MessageError) -> None:
        """Show a MessageError from the service on the field it concerns."""
        self.add_error(
            ERROR_FIELDS.get(error.code), forms.ValidationError(error.message, code=error.code)
        )

    @property
    def max_text_length(self) -> int:
        return settings.PRIVATEMESSAGES_MAX_TEXT_LENGTH


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
