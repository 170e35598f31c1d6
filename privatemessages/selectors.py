"""
Reads. Access checks return None for "not yours", so that callers answer 404
for a thread that exists but belongs to others exactly as for one that does not.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Substr
from django.urls import reverse
from django.utils.text import Truncator

from .models import Membership, Message, Thread, is_storable, is_valid_id

CHAT_HISTORY_LENGTH = 100
PREVIEW_LENGTH = 80


@dataclass(frozen=True)
class ThreadCounts:
    """A thread's message count, and how many each participant sent."""

    total: int = 0
    sent_by_user: dict[int, int] = field(default_factory=dict)

    def sent_by(self, user_id: int) -> int:
        return self.sent_by_user.get(user_id, 0)

    def received_by(self, user_id: int) -> int:
        return self.total - self.sent_by(user_id)


@dataclass(frozen=True)
class ThreadSummary:
    """One line of a user's thread list."""

    pk: int
    partner: str
    total: int
    last_message_id: int | None
    last_message_preview: str
    last_message_created: datetime | None
    # True when the newest message was sent by the user the list is for.
    last_message_outgoing: bool

    def get_absolute_url(self) -> str:
        return reverse("privatemessages:chat", kwargs={"thread_id": self.pk})


@dataclass(frozen=True)
class ChatView:
    """What the chat page of one thread shows to one of its participants."""

    thread: Thread
    user: AbstractBaseUser
    partner: AbstractBaseUser | None
    messages: list[Message]
    counts: ThreadCounts

    @property
    def partner_name(self) -> str:
        return self.partner.get_username() if self.partner is not None else ""

    @property
    def last_id(self) -> int:
        return self.messages[-1].pk if self.messages else 0

    @property
    def total(self) -> int:
        return self.counts.total

    @property
    def sent(self) -> int:
        return self.counts.sent_by(self.user.pk)

    @property
    def received(self) -> int:
        return self.counts.received_by(self.user.pk)


def thread_get(*, thread_id: int) -> Thread | None:
    """Return thread *thread_id*, or None."""
    if not is_valid_id(thread_id):
        return None
    return Thread.objects.filter(pk=thread_id).first()


def user_get(*, user_id: object) -> AbstractBaseUser | None:
    """Return the user with id *user_id*, or None (also for anything that is no id)."""
    if not is_valid_id(user_id):
        return None
    return get_user_model().objects.filter(pk=user_id).first()


def user_get_by_username(*, username: object) -> AbstractBaseUser | None:
    """
    Return the user called *username*, or None: also for a non-string or a
    name no column could hold.
    """
    if not isinstance(username, str) or not username or not is_storable(username):
        return None
    User = get_user_model()
    return User.objects.filter(**{User.USERNAME_FIELD: username}).first()


def thread_for_participant(*, thread_id: int, user: AbstractBaseUser) -> Thread | None:
    """Return thread *thread_id* if *user* takes part in it, else None."""
    if not user.is_authenticated or not is_valid_id(thread_id):
        return None
    return Thread.objects.filter(pk=thread_id, participants=user).first()


def thread_participants(*, thread: Thread) -> dict[int, str]:
    """Return the participants of *thread*: user id -> username."""
    User = get_user_model()
    return dict(thread.participants.values_list("pk", User.USERNAME_FIELD))


def messages_after(*, thread_id: int, after_id: int, limit: int = 500) -> list[Message]:
    """Return up to *limit* messages of the thread with id > *after_id*, oldest first."""
    return list(
        Message.objects.filter(thread_id=thread_id, id__gt=after_id)
        .select_related("sender")
        .order_by("id")[:limit]
    )


def thread_list_for_user(*, user: AbstractBaseUser) -> list[ThreadSummary]:
    """
    Return the threads of *user*, newest activity first, with each partner's
    name, the message count and the newest message.

    Runs one query for one thread as for a thousand: the newest message and the
    partner come in as subqueries, the count is a column of the thread.
    """
    if not user.is_authenticated:
        return []
    User = get_user_model()
    newest = Message.objects.filter(thread=OuterRef("pk")).order_by("-id")
    # One character more than shown, so that Truncator knows to add "…".
    preview = newest.annotate(preview=Substr("text", 1, PREVIEW_LENGTH + 1)).values("preview")
    partner = (
        Thread.participants.through.objects.filter(thread=OuterRef("pk"))
        .exclude(user_id=user.pk)
        .order_by("pk")
        .values(f"user__{User.USERNAME_FIELD}")[:1]
    )
    rows = (
        Thread.objects.filter(participants=user)
        .annotate(
            partner_name=Subquery(partner),
            newest_id=Subquery(newest.values("id")[:1]),
            newest_created=Subquery(newest.values("created")[:1]),
            newest_sender_id=Subquery(newest.values("sender_id")[:1]),
            newest_preview=Subquery(preview[:1]),
        )
        .order_by(F("last_message").desc(nulls_last=True), "-pk")
        .values(
            "pk",
            "partner_name",
            "newest_id",
            "newest_created",
            "newest_sender_id",
            "newest_preview",
            "message_count",
        )
    )
    return [
        ThreadSummary(
            pk=row["pk"],
            partner=row["partner_name"] or "",
            total=row["message_count"],
            last_message_id=row["newest_id"],
            last_message_preview=Truncator(row["newest_preview"] or "").chars(PREVIEW_LENGTH),
            last_message_created=row["newest_created"],
            last_message_outgoing=row["newest_sender_id"] == user.pk,
        )
        for row in rows
    ]


def chat_for_participant(*, thread_id: int, user: AbstractBaseUser) -> ChatView | None:
    """
    Return what the chat page of thread *thread_id* shows to *user*: the partner,
    the last CHAT_HISTORY_LENGTH messages oldest first, and the counters; or None
    if *user* does not take part in the thread (or it does not exist).
    """
    thread = thread_for_participant(thread_id=thread_id, user=user)
    if thread is None:
        return None
    partner = thread.participants.exclude(pk=user.pk).order_by("pk").first()
    messages = list(
        Message.objects.filter(thread=thread)
        .select_related("sender")
        .order_by("-id")[:CHAT_HISTORY_LENGTH]
    )
    messages.reverse()
    sent = Membership.objects.filter(thread=thread).values_list("user_id", "sent_count")
    counts = ThreadCounts(total=thread.message_count, sent_by_user=dict(sent))
    return ChatView(thread=thread, user=user, partner=partner, messages=messages, counts=counts)
