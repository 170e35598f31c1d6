"""
Reads. Access checks return None for "not yours", so that callers answer 404
for a thread that exists but belongs to others exactly as for one that does not.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Length, Substr
from django.urls import reverse
from django.utils.text import Truncator

from . import bots
from .models import MAX_ID, Membership, Message, Thread, is_storable, is_valid_id

CHAT_HISTORY_LENGTH = 100
PREVIEW_LENGTH = 80
THREAD_LIST_PAGE = 50
USER_SEARCH_LIMIT = 8


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
    partner_id: int | None
    total: int
    # Messages from the partner the list's user has not read.
    unread: int
    last_message_id: int | None
    last_message_preview: str
    last_message_created: datetime | None
    # True when the newest message was sent by the user the list is for.
    last_message_outgoing: bool
    # Whether the partner is a bot (bots.py: a skill), which the list marks.
    partner_is_skill: bool = False

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
    # The viewer's read position when the page was asked for (before this view
    # read it), and the first message from others after it: the divider.
    last_read_id: int = 0
    first_unread_id: int | None = None
    # The partner's read position, 0 when unknown or receipts are off.
    partner_last_read_id: int = 0
    # Whether the viewer sees receipts (their own setting).
    receipts: bool = True
    # Whether older messages exist before the first shown, and whether this is
    # the newest page (no ?before=).
    has_older: bool = False
    is_newest_page: bool = True

    @property
    def partner_id(self) -> int | None:
        return self.partner.pk if self.partner is not None else None

    @property
    def partner_is_skill(self) -> bool:
        """Whether the partner is a bot (bots.py): the page marks it and offers a restart."""
        return bots.is_bot(self.partner_id)

    @property
    def restart_url(self) -> str | None:
        """Where the restart form posts, for a bot partner; None otherwise."""
        if not self.partner_is_skill:
            return None
        return bots.directory().restart_url(self.thread.pk)

    @property
    def older_url(self) -> str | None:
        if not self.has_older or not self.messages:
            return None
        return f"{self.thread.get_absolute_url()}?before={self.messages[0].pk}"

    @property
    def history_url(self) -> str:
        return reverse("privatemessages:history", kwargs={"thread_id": self.thread.pk})

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


def partners_last_seen(*, thread_id: int, user_id: int) -> dict[int, datetime | None]:
    """
    Return the persisted last-seen time of *user_id*'s partners in the thread
    (None when unknown), leaving out those who hide their presence.
    """
    rows = (
        Membership.objects.filter(thread_id=thread_id)
        .exclude(user_id=user_id)
        .exclude(user__chat_profile__show_presence=False)
        .values_list("user_id", "user__chat_profile__last_seen")
    )
    return dict(rows)


def thread_newest_id(*, thread_id: int) -> int:
    """The id of the thread's newest message (0 for none): one index lookup."""
    newest = Message.objects.filter(thread_id=thread_id).order_by("-id").values_list("id")[:1]
    return next(iter(newest), (0,))[0]


def messages_after(*, thread_id: int, after_id: int, limit: int = 500) -> list[Message]:
    """Return up to *limit* messages of the thread with id > *after_id*, oldest first."""
    return list(
        Message.objects.filter(thread_id=thread_id, id__gt=after_id)
        .select_related("sender")
        .order_by("id")[:limit]
    )


@dataclass(frozen=True)
class ThreadPage:
    """One page of a user's thread list, and the cursor of the next."""

    threads: list[ThreadSummary]
    next_cursor: str | None


def thread_list_for_user(
    *, user: AbstractBaseUser, after: str | None = None, limit: int = THREAD_LIST_PAGE
) -> ThreadPage:
    """
    Return a page of the threads of *user* that have messages, newest activity
    first, with each partner's name, the message and unread counts and the
    newest message; *after* is the cursor a previous page gave (keyset on the
    last message's time and the thread id: no OFFSET, however deep the page).

    Runs one query for one thread as for a page of them: the newest message,
    the partner and the unread count come in as subqueries, the message count
    is a column of the thread.
    """
    if not user.is_authenticated:
        return ThreadPage([], None)
    User = get_user_model()
    newest = Message.objects.filter(thread=OuterRef("pk")).order_by("-id")
    # One character more than shown, so that Truncator knows to add "…".
    preview = newest.annotate(preview=Substr("text", 1, PREVIEW_LENGTH + 1)).values("preview")
    others = Membership.objects.filter(thread=OuterRef("pk")).exclude(user_id=user.pk)
    partner = others.order_by("pk").values(f"user__{User.USERNAME_FIELD}", "user_id")
    mine = Membership.objects.filter(thread=OuterRef("pk"), user_id=user.pk)
    threads = Thread.objects.filter(participants=user)
    position = parse_thread_cursor(after)
    if position is not None:
        moment, pk = position
        # Threads without a time (made before counting, or by hand) come last.
        if moment is None:
            threads = threads.filter(last_message__isnull=True, pk__lt=pk)
        else:
            threads = threads.filter(
                Q(last_message__lt=moment)
                | Q(last_message=moment, pk__lt=pk)
                | Q(last_message__isnull=True)
            )
    rows = list(
        threads.annotate(
            partner_name=Subquery(partner.values(f"user__{User.USERNAME_FIELD}")[:1]),
            partner_pk=Subquery(partner.values("user_id")[:1]),
            unread=Subquery(mine.values("unread_count")[:1]),
            newest_id=Subquery(newest.values("id")[:1]),
            newest_created=Subquery(newest.values("created")[:1]),
            newest_sender_id=Subquery(newest.values("sender_id")[:1]),
            newest_preview=Subquery(preview[:1]),
        )
        .order_by(F("last_message").desc(nulls_last=True), "-pk")
        .values(
            "pk",
            "last_message",
            "partner_name",
            "partner_pk",
            "unread",
            "newest_id",
            "newest_created",
            "newest_sender_id",
            "newest_preview",
            "message_count",
        )[: limit + 1]
    )
    skill_ids = bots.directory().bot_user_ids()
    summaries = [
        ThreadSummary(
            pk=row["pk"],
            partner=row["partner_name"] or "",
            partner_id=row["partner_pk"],
            total=row["message_count"],
            unread=row["unread"] or 0,
            last_message_id=row["newest_id"],
            last_message_preview=Truncator(row["newest_preview"] or "").chars(PREVIEW_LENGTH),
            last_message_created=row["newest_created"],
            last_message_outgoing=row["newest_sender_id"] == user.pk,
            partner_is_skill=row["partner_pk"] in skill_ids,
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = thread_cursor(last["last_message"], last["pk"])
    return ThreadPage(summaries, next_cursor)


def thread_cursor(moment: datetime | None, pk: int) -> str:
    """The cursor of the thread list page that starts after (*moment*, *pk*)."""
    micros = "n" if moment is None else int(moment.timestamp() * 1_000_000)
    return f"{micros}-{pk}"


def parse_thread_cursor(cursor: object) -> tuple[datetime | None, int] | None:
    """Return the (time or None, thread id) a cursor names, or None for none or a bad one."""
    if not isinstance(cursor, str) or len(cursor) > 40 or not cursor.isascii():
        return None
    micros, _, pk = cursor.partition("-")
    if not pk.isdigit() or not is_valid_id(int(pk)):
        return None
    if micros == "n":
        return None, int(pk)
    if not micros.isdigit():
        return None
    try:
        moment = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
    # The float division may miss by a microsecond; the integer one is exact.
    return moment.replace(microsecond=int(micros) % 1_000_000), int(pk)


def usernames_matching(*, prefix: str, user: AbstractBaseUser, limit: int = USER_SEARCH_LIMIT):
    """
    Return up to *limit* usernames of active users starting with *prefix*
    (case-insensitive), not *user*'s own, shortest first.
    """
    User = get_user_model()
    field = User.USERNAME_FIELD
    return list(
        User.objects.filter(**{f"{field}__istartswith": prefix}, is_active=True)
        .exclude(pk=user.pk)
        .order_by(Length(field), field)
        .values_list(field, flat=True)[:limit]
    )


def messages_before(*, thread_id: int, before_id: int, limit: int) -> tuple[list[Message], bool]:
    """
    Return up to *limit* messages of the thread with ids below *before_id*,
    oldest first, and whether there are older ones.
    """
    messages = list(
        Message.objects.filter(thread_id=thread_id, id__lt=before_id)
        .select_related("sender")
        .order_by("-id")[: limit + 1]
    )
    more = len(messages) > limit
    messages = messages[:limit]
    messages.reverse()
    return messages, more


def chat_for_participant(
    *, thread_id: int, user: AbstractBaseUser, before: int | None = None
) -> ChatView | None:
    """
    Return what the chat page of thread *thread_id* shows to *user*: the partner,
    CHAT_HISTORY_LENGTH messages oldest first (the newest, or those before the
    id *before*), the counters and the read positions; or None if *user* does
    not take part in the thread (or it does not exist).
    """
    thread = thread_for_participant(thread_id=thread_id, user=user)
    if thread is None:
        return None
    partner = thread.participants.exclude(pk=user.pk).order_by("pk").first()
    messages, has_older = messages_before(
        thread_id=thread.pk, before_id=before or MAX_ID, limit=CHAT_HISTORY_LENGTH
    )
    members = {
        row["user_id"]: row
        for row in Membership.objects.filter(thread=thread).values(
            "user_id", "sent_count", "last_read_id", "user__chat_profile__send_receipts"
        )
    }
    counts = ThreadCounts(
        total=thread.message_count,
        sent_by_user={uid: row["sent_count"] for uid, row in members.items()},
    )
    mine = members.get(user.pk, {})
    last_read_id = mine.get("last_read_id", 0)
    receipts = mine.get("user__chat_profile__send_receipts") is not False
    theirs = members.get(partner.pk, {}) if partner is not None else {}
    partner_receipts = theirs.get("user__chat_profile__send_receipts") is not False
    first_unread = next(
        (m.pk for m in messages if m.pk > last_read_id and m.sender_id != user.pk), None
    )
    return ChatView(
        thread=thread,
        user=user,
        partner=partner,
        messages=messages,
        counts=counts,
        last_read_id=last_read_id,
        first_unread_id=first_unread,
        partner_last_read_id=theirs.get("last_read_id", 0) if receipts and partner_receipts else 0,
        receipts=receipts,
        has_older=has_older,
        is_newest_page=before is None,
    )
