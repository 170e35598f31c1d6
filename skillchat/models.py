from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SkillPartner(models.Model):
    """A user account whose messages are answered by an Alice skill."""

    MOUNTED = "mounted"
    WEBHOOK = "webhook"
    KINDS = [(MOUNTED, _("навык этого сайта")), (WEBHOOK, _("внешний вебхук"))]

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="skill_partner",
        verbose_name=_("учётная запись"),
    )
    title = models.CharField(_("название"), max_length=100)
    description = models.TextField(_("описание"), blank=True)
    kind = models.CharField(_("где работает"), max_length=16, choices=KINDS, default=MOUNTED)
    # A name of SKILLCHAT_MOUNTED_SKILLS (the admin's form offers them).
    mounted_skill = models.CharField(_("навык"), max_length=64, blank=True)
    # Set by an admin only; checked in the form and again at every call (webhook.py).
    webhook_url = models.URLField(_("адрес вебхука"), max_length=1024, blank=True)
    enabled = models.BooleanField(_("включён"), default=True)

    class Meta:
        verbose_name = _("навык-собеседник")
        verbose_name_plural = _("навыки-собеседники")

    def __str__(self) -> str:
        return self.title


class SkillConversation(models.Model):
    """
    A thread's dialog with its skill: the durable state every process reads
    under this row's lock (runner.py), so that one message at a time is
    answered, in id order, once.
    """

    thread = models.OneToOneField(
        "privatemessages.Thread",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="skill_conversation",
    )
    partner = models.ForeignKey(SkillPartner, on_delete=models.CASCADE)
    # The Alice session: its number in this thread (session_id is derived from
    # it), and the message_id of its next request (0: the session's first).
    session_seq = models.PositiveIntegerField(default=1)
    alice_message_seq = models.PositiveIntegerField(default=0)
    # Every user message up to this id has been answered (or given up on).
    last_handled_message_id = models.PositiveBigIntegerField(default=0)
    # The skill ended its session: the next user message starts a new one.
    ended = models.BooleanField(default=False)
    # A restart waits for the skill's greeting.
    restart_requested = models.BooleanField(default=False)
    # The states the skill returned (session_state, user_state, application_state),
    # sent back in the next request's ``state`` as Dialogs does.
    states = models.JSONField(default=dict, blank=True)
    # A webhook is never asked twice: while this is in the future, a process is
    # waiting for its answer and no other asks (runner.py).
    webhook_busy_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("разговор с навыком")
        verbose_name_plural = _("разговоры с навыками")

    def __str__(self) -> str:
        return f"Skill conversation of thread {self.thread_id}"
