from django import forms
from django.utils.translation import gettext_lazy as _

from . import selectors
from .conf import app_settings
from .models import ChatProfile, is_valid_id
from .services import MessageError, clean_message_text

# Which form field shows each MessageError code; codes not listed go on top.
ERROR_FIELDS = {
    "empty": "text",
    "too_long": "text",
    "invalid_text": "text",
    "unknown_recipient": "recipient",
    "self_recipient": "recipient",
}


class ChatMessageForm(forms.Form):
    """The chat page's compose box (field ``text``): posts to its thread."""

    # Not required here: the service's own rule rejects empty text, with its
    # own message, so that the form, the API and the WebSocket all agree.
    text = forms.CharField(label=_("Сообщение"), required=False, strip=False)

    def clean_text(self) -> str:
        # The form's one check of the text: the view hands it on unchecked.
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
        return app_settings.MAX_TEXT_LENGTH


class NewMessageForm(ChatMessageForm):
    """The thread list's new-message form: ``recipient`` (a username) and ``text``."""

    recipient = forms.CharField(
        label=_("Кому"),
        max_length=150,
        error_messages={"required": _("Укажите получателя.")},
    )
    field_order = ["recipient", "text"]

    def clean_recipient(self):
        """Return the user called so (the value comes stripped), or refuse it."""
        recipient = selectors.user_get_by_username(username=self.cleaned_data["recipient"])
        if recipient is None:
            raise forms.ValidationError(_("Такого пользователя нет."), code="unknown_recipient")
        return recipient


class ChatSettingsForm(forms.ModelForm):
    """The user's chat settings (privatemessages/settings.html)."""

    class Meta:
        model = ChatProfile
        fields = ["send_receipts", "show_presence", "notifications"]
        labels = {
            "send_receipts": _("Отправлять отчёты о прочтении (и видеть чужие)"),
            "show_presence": _("Показывать, что я в сети (и видеть, кто в сети)"),
            "notifications": _("Уведомления о новых сообщениях в браузере"),
        }


def before_id(value: object) -> int | None:
    """The message id of a ``?before=`` parameter, or None for none or a bad one."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if is_valid_id(number) else None
