from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SkillChatConfig(AppConfig):
    name = "skillchat"
    verbose_name = _("Навыки в чате")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from privatemessages import bots

        from .hooks import on_message_committed
        from .models import SkillPartner
        from .partners import directory

        bots.set_directory(directory)
        bots.message_committed.connect(on_message_committed, dispatch_uid="skillchat.answer")
        post_save.connect(directory.invalidate, sender=SkillPartner, dispatch_uid="skillchat.ids")
        post_delete.connect(
            directory.invalidate, sender=SkillPartner, dispatch_uid="skillchat.ids.delete"
        )
