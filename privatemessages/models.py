import functools

from django.conf import settings
from django.db import models
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# The largest id a bigint column holds: bigger ids from URLs or JSON are no ids.
MAX_ID = 2**63 - 1


def is_valid_id(value: object) -> bool:
    """Return True if *value* is an int that can be a primary key."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def thread_url(thread_id: int) -> str:
    """
    The chat page of thread *thread_id*. Every message's broadcast carries it,
    and reverse() costs more than the rest of that event: it is worked out
    once per thread, URLconf and script prefix.
    """
    return _thread_url(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), thread_id)


@functools.lru_cache(maxsize=10_000)
def _thread_url(urlconf: str, script_prefix: str, thread_id: int) -> str:
    # The arguments are the key: reverse() reads the same two itself.
    return reverse("privatemessages:chat", urlconf=urlconf, kwargs={"thread_id": thread_id})


def is_storable(text: str) -> bool:
    """
    Return False for text no column holds: PostgreSQL text has no NUL, and a
    lone surrogate (which JSON can carry) is not UTF-8.
    """
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Thread(models.Model):
    """A conversation. Today always between exactly two users."""

    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="message_threads"
    )
    # "<lower user id>:<higher user id>" for two-person threads. The unique
    # constraint is what makes two first messages sent at the same moment end
    # up in one thread. NULL leaves room for group threads later.
    pair_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    last_message = models.DateTimeField(null=True, blank=True, db_index=True)
    created = models.DateTimeField(default=timezone.now)
    # Counted in the transaction that saves each message, under the thread
    # row's lock (services.message_create), so it is exact by construction.
    message_count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-last_message"]
        verbose_name = _("диалог")
        verbose_name_plural = _("диалоги")

    def __str__(self) -> str:
        return f"Thread #{self.pk} ({self.pair_key or 'group'})"

    def get_absolute_url(self) -> str:
        return thread_url(self.pk)

    @staticmethod
    def pair_key_for(user_id: int, other_user_id: int) -> str:
        low, high = sorted((user_id, other_user_id))
        return f"{low}:{high}"


class Membership(models.Model):
    """A user's place in a thread, with what is counted per participant."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    # Messages this participant sent here, counted like Thread.message_count.
    sent_count = models.PositiveBigIntegerField(default=0)
    # The id of the newest message this participant has seen here (0: none).
    # Only moves forward; written under the thread row's lock (unread.py).
    last_read_id = models.PositiveBigIntegerField(default=0)
    # Messages from others after last_read_id, kept with it and with each
    # message, so that no count ever scans the history.
    unread_count = models.PositiveBigIntegerField(default=0)

    class Meta:
        # The table Django made for the plain many-to-many field before.
        db_table = "privatemessages_thread_participants"
        unique_together = [("thread", "user")]
        verbose_name = _("участник")
        verbose_name_plural = _("участники")

    def __str__(self) -> str:
        return f"User {self.user_id} in thread {self.thread_id}"


class Message(models.Model):
    """One message. Ids grow in commit order within a thread (see services)."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    # A deleted account's messages stay in the other participant's history,
    # shown as from a deleted account, as chats do.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="sent_messages",
    )
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # The id the sending browser tab gave the message (empty for the form and
    # the API). Unique per sender, so a message resent after a reconnect is
    # saved once; the sender's tab matches its echo to the line it showed.
    client_id = models.CharField(max_length=64, blank=True, default="")
    # What a bot's message carries beside its text (buttons, a card; written by
    # the app that runs the bot), or a tapped button's reference on a user's
    # message. NULL for people's messages, so they cost nothing (docs/protocol.md).
    attachments = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # History pages and resync: "messages of thread T after id N".
            models.Index(fields=["thread", "id"], name="pm_message_thread_id_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "client_id"],
                condition=~models.Q(client_id=""),
                name="pm_message_sender_client_id_uniq",
            ),
        ]
        verbose_name = _("сообщение")
        verbose_name_plural = _("сообщения")

    def __str__(self) -> str:
        return f"Message #{self.pk} in thread {self.thread_id}"


class ChatProfile(models.Model):
    """
    A user's chat settings and unread total. Created on first use (an upsert
    in the transaction that first needs it), so no user needs one up front.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="chat_profile",
    )
    # The sum of the user's Membership.unread_count, kept with them.
    unread_total = models.PositiveBigIntegerField(default=0)
    # Grows by one with every change of unread_total, in commit order: a
    # client keeps the total of the highest version it has seen.
    unread_version = models.PositiveBigIntegerField(default=0)
    # Whether the user's reads are announced to others (and others' to the user).
    send_receipts = models.BooleanField(default=True)
    # Whether the user's presence is recorded and shown (and others' to the user).
    show_presence = models.BooleanField(default=True)
    # Whether the browser shows notifications of new messages.
    notifications = models.BooleanField(default=False)
    # When the user was last active, written when a socket closes (throttled).
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("настройки чата")
        verbose_name_plural = _("настройки чата")

    def __str__(self) -> str:
        return f"Chat profile of user {self.user_id}"
