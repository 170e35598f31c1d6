"""
Read positions and unread counts (docs/protocol.md, "Read positions, unread
counts, receipts, typing, presence").

Each participant's position (``Membership.last_read_id``) and unread count in
a thread, and each user's unread total (``ChatProfile``), change only under
the thread row's lock: in the transaction that saves a message (message_sql)
or in ``thread_mark_read`` here. So the counts never drift from the messages,
and a position never moves back, whatever order reads arrive in.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from . import events, message_sql
from .models import ChatProfile, Membership, Message, Thread


@dataclass(frozen=True)
class ReadState:
    """A user's place in a thread after a read, and their unread total."""

    thread_id: int
    user_id: int
    last_read_id: int
    unread: int
    unread_total: int
    version: int


def thread_mark_read(*, user_id: int, thread_id: int, up_to: int) -> ReadState | None:
    """
    Move *user_id*'s read position in *thread_id* forward to *up_to* (or to the
    newest message at or below it), recount what is unread, and announce it
    after commit. Return the new state, or None if the position did not move
    (already there or further, or nothing to read). The caller checked that
    the user takes part in the thread.
    """
    with transaction.atomic():
        _lock_thread(thread_id)
        member = (
            Membership.objects.filter(thread_id=thread_id, user_id=user_id)
            .values("pk", "last_read_id", "unread_count", "user__chat_profile__send_receipts")
            .first()
        )
        if member is None:
            return None
        position = (
            Message.objects.filter(thread_id=thread_id, id__lte=up_to)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        if position is None or position <= member["last_read_id"]:
            return None
        # Bounded by what was unread, not by the thread's history.
        unread = (
            Message.objects.filter(thread_id=thread_id, id__gt=position)
            .filter(~Q(sender_id=user_id) | Q(sender_id=None))
            .count()
        )
        Membership.objects.filter(pk=member["pk"]).update(
            last_read_id=position, unread_count=unread
        )
        with connection.cursor() as cursor:
            total, version = message_sql.add_to_unread_total(
                cursor, user_id=user_id, delta=unread - member["unread_count"]
            )
        state = ReadState(
            thread_id=thread_id,
            user_id=user_id,
            last_read_id=position,
            unread=unread,
            unread_total=total,
            version=version,
        )
        # Receipts are on unless the user's profile turned them off.
        receipts = member["user__chat_profile__send_receipts"] is not False
        transaction.on_commit(
            lambda: events.broadcast_read(state, announce_receipt=receipts), robust=True
        )
    return state


def _lock_thread(thread_id: int) -> None:
    """Take the thread row's lock, as saving a message does, until commit."""
    if connection.vendor == "sqlite":
        # SQLite locks the database, not rows; a write up front takes it, so
        # that this transaction never has to upgrade a read lock (which fails
        # at once instead of waiting when another writer got there first).
        Thread.objects.filter(pk=thread_id).update(message_count=F("message_count"))
    else:
        list(Thread.objects.select_for_update().filter(pk=thread_id).values_list("pk"))


@dataclass(frozen=True)
class ThreadReads:
    """What a chat socket's sync tells about reads (the ``read`` of ``synced``)."""

    last_read_id: int
    unread: int
    unread_total: int
    version: int
    # Other participants' positions; empty when receipts are off on either side.
    partners: dict[int, int]

    def as_frame(self) -> dict:
        return {
            "last_read_id": self.last_read_id,
            "unread": self.unread,
            "unread_total": self.unread_total,
            "version": self.version,
            "partners": {str(user_id): read for user_id, read in self.partners.items()},
        }


def thread_reads(*, thread_id: int, user_id: int, receipts: bool) -> ThreadReads:
    """
    Return *user_id*'s read state in *thread_id* and, if *receipts*, the
    partners' positions (of those who send receipts): one query.
    """
    rows = Membership.objects.filter(thread_id=thread_id).values_list(
        "user_id",
        "last_read_id",
        "unread_count",
        "user__chat_profile__send_receipts",
        "user__chat_profile__unread_total",
        "user__chat_profile__unread_version",
    )
    mine, partners = (0, 0, 0, 0), {}
    for member_id, last_read_id, unread, partner_receipts, total, version in rows:
        if member_id == user_id:
            mine = (last_read_id, unread, total or 0, version or 0)
        elif receipts and partner_receipts is not False:
            partners[member_id] = last_read_id
    return ThreadReads(
        last_read_id=mine[0],
        unread=mine[1],
        unread_total=mine[2],
        version=mine[3],
        partners=partners,
    )


def unread_total(user_id: int) -> tuple[int, int]:
    """Return *user_id*'s unread total and its version ((0, 0) before any)."""
    row = ChatProfile.objects.filter(user_id=user_id).values_list("unread_total", "unread_version")
    return next(iter(row), (0, 0))


def unread_counts_rebuild(*, thread_ids: list[int]) -> None:
    """
    Count the unread messages of *thread_ids*' participants again from the
    rows, and their totals. For deletions (the admin's): sending and reading
    keep the counts themselves. Call inside atomic().
    """
    after_read = Message.objects.filter(
        thread=OuterRef("thread"), id__gt=OuterRef("last_read_id")
    ).filter(~Q(sender=OuterRef("user")) | Q(sender=None))
    counted = after_read.order_by().values(group=Value(1)).annotate(n=Count("pk")).values("n")
    Membership.objects.filter(thread_id__in=thread_ids).update(
        unread_count=Coalesce(Subquery(counted), 0)
    )
    users = Membership.objects.filter(thread_id__in=thread_ids).values("user_id")
    # A total is kept only in a profile: one for each, or the next read would
    # take from a total that never counted these.
    ChatProfile.objects.bulk_create(
        [ChatProfile(user_id=row["user_id"]) for row in users], ignore_conflicts=True
    )
    totals = (
        Membership.objects.filter(user=OuterRef("user"))
        .order_by()
        .values("user")
        .annotate(n=Sum("unread_count"))
        .values("n")
    )
    ChatProfile.objects.filter(user__in=users).update(
        unread_total=Coalesce(Subquery(totals), 0), unread_version=F("unread_version") + 1
    )
