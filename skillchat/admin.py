from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import SkillConversation, SkillPartner
from .registry import mounted_skill_names
from .webhook import WebhookRefused, check_webhook


class SkillPartnerForm(forms.ModelForm):
    mounted_skill = forms.ChoiceField(label=_("навык"), required=False)
    webhook_url = forms.URLField(
        label=_("адрес вебхука"), required=False, max_length=1024, assume_scheme="https"
    )

    class Meta:
        model = SkillPartner
        fields = [
            "user",
            "title",
            "description",
            "kind",
            "mounted_skill",
            "webhook_url",
            "enabled",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mounted_skill"].choices = [("", "—")] + [
            (name, name) for name in mounted_skill_names()
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == SkillPartner.MOUNTED and not cleaned.get("mounted_skill"):
            self.add_error("mounted_skill", _("Выберите навык этого сайта."))
        if kind == SkillPartner.WEBHOOK:
            url = cleaned.get("webhook_url")
            if not url:
                self.add_error("webhook_url", _("Укажите адрес вебхука."))
            else:
                try:
                    check_webhook(url)
                except WebhookRefused as exc:
                    self.add_error("webhook_url", _("Этот адрес нельзя вызывать: %s") % exc)
        user = cleaned.get("user")
        if user is not None and user.is_staff:
            self.add_error("user", _("Навыком может быть только обычная учётная запись."))
        return cleaned


@admin.register(SkillPartner)
class SkillPartnerAdmin(admin.ModelAdmin):
    form = SkillPartnerForm
    list_display = ["title", "user", "kind", "mounted_skill", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["title", "user__username"]
    raw_id_fields = ["user"]


@admin.register(SkillConversation)
class SkillConversationAdmin(admin.ModelAdmin):
    list_display = ["thread", "partner", "session_seq", "alice_message_seq", "ended"]
    readonly_fields = [
        "thread",
        "partner",
        "session_seq",
        "alice_message_seq",
        "last_handled_message_id",
        "ended",
        "restart_requested",
        "states",
        "webhook_busy_until",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # made by the first message to a skill
