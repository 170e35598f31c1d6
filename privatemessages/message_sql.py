"""
The statements that save a message, in plain SQL: they run for every message,
on the thread that commits them, and through the ORM they cost several times
the CPU (query compilation, model saving). ``insert_in_order`` is called by
services.message_create only, inside its transaction.
"""

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from .models import ChatProfile, Membership, Message, Thread


@dataclass(frozen=True)
class Saved:
    message_id: int
    # The id of the thread's message before this one (0 for the first).
    prev_id: int
    # The thread's message count with this message.
    total: int
    # Taken under the thread's lock: the thread's last_message and the message's created.
    created: datetime
    # Each participant's unread count in the thread after this message.
    unread: dict[int, int]
    # user id -> (unread total, its version), for each participant whose total changed.
    totals: dict[int, tuple[int, int]]


class ThreadGone(Exception):
    """The thread was deleted since the caller read it."""


def insert_in_order(
    *,
    thread_id: int,
    sender_id: int,
    participant_ids: list[int],
    text: str,
    client_id: str,
    attachments: dict | None = None,
) -> Saved:
    """
    Insert a message with the thread row locked; count it, time it, and move
    the participants' unread counts and the sender's read position. Call inside
    atomic(). *attachments* (a bot's message, a tapped button) is stored as
    JSON; None, every person's message, is NULL.
    """
    sql = _statements(connection.vendor)
    with connection.cursor() as cursor:
        # The UPDATE locks the thread row until commit, so messages of one
        # thread commit in id order: a client that has seen id N can ask for
        # "everything after N" and never miss a message committed later. The
        # count and the time are taken under the same lock, so the count
        # cannot drift from the rows, and a message that waited for the lock
        # is not dated before the one that held it (last_message never goes
        # back). The database's clock: one clock for every server process.
        cursor.execute(sql.lock_count_and_time, [thread_id])
        row = cursor.fetchone()
        if row is None:
            raise ThreadGone
        total, created = row[0], _as_aware(row[1])
        # Read under the lock (in a statement of its own: PostgreSQL's UPDATE
        # sees the snapshot from before its wait for the lock): the thread's
        # newest message before this one, which receivers compare with the
        # last id they delivered to notice a missed or reordered live event
        # (delivery.py); and what the sender had not read, which sending reads.
        cursor.execute(sql.previous_id_and_sender_unread, [thread_id, thread_id, sender_id])
        prev_id, sender_unread = cursor.fetchone()
        # A resent client_id fails the unique constraint here rather than
        # costing every message a lookup first; the rollback also undoes
        # the counts, and message_create returns the original.
        cursor.execute(
            sql.insert,
            [
                thread_id,
                sender_id,
                text,
                connection.ops.adapt_datetimefield_value(created),
                client_id,
                None if attachments is None else _attachments_value(attachments),
            ],
        )
        message_id = cursor.fetchone()[0]
        # Totals change by one for each receiver, and by minus what the sender
        # had not read: one UPDATE of the profiles beside the counts (on
        # PostgreSQL in the same statement), which takes their locks in key
        # order (an index scan of the ids), so that messages in threads of
        # overlapping people cannot deadlock on them.
        changed = sorted(
            user_id for user_id in participant_ids if user_id != sender_id or sender_unread
        )
        count_args = [sender_id, sender_id, message_id, sender_id, thread_id]
        totals_args = [sender_id, -(sender_unread or 0), *changed]
        if not changed:  # nobody else in the thread
            cursor.execute(sql.count_members, count_args)
            rows = [(user_id, count, None, None) for user_id, count in cursor.fetchall()]
        elif sql.counts_and_totals is not None:
            cursor.execute(sql.counts_and_totals(len(changed)), count_args + totals_args)
            rows = cursor.fetchall()
        else:
            cursor.execute(sql.count_members, count_args)
            counted = cursor.fetchall()
            cursor.execute(sql.add_to_totals(len(changed)), totals_args)
            found = {row[0]: row[1:] for row in cursor.fetchall()}
            rows = [
                (user_id, unread, *found.get(user_id, (None, None))) for user_id, unread in counted
            ]
        unread = {user_id: count for user_id, count, _, _ in rows}
        totals = {
            user_id: (total, version) for user_id, _, total, version in rows if total is not None
        }
        # A user with no profile yet (made before profiles, or by hand): made here.
        for user_id in changed:
            if user_id not in totals:
                delta = 1 if user_id != sender_id else -(sender_unread or 0)
                totals[user_id] = add_to_unread_total(cursor, user_id=user_id, delta=delta)
    return Saved(
        message_id=message_id,
        prev_id=prev_id or 0,
        total=total,
        created=created,
        unread=unread,
        totals=totals,
    )


def add_to_unread_total(cursor, *, user_id: int, delta: int) -> tuple[int, int]:
    """Add *delta* to *user_id*'s unread total; return (total, version)."""
    cursor.execute(_statements(connection.vendor).add_to_total, [user_id, max(delta, 0), delta])
    total, version = cursor.fetchone()
    return total, version


def _attachments_value(attachments: dict):
    """*attachments* as the driver takes it for the JSON column (psycopg's Jsonb, text)."""
    return Message._meta.get_field("attachments").get_db_prep_value(attachments, connection)


def _as_aware(value: datetime | str) -> datetime:
    """A timestamp as a raw cursor returns it (SQLite: naive UTC text) -> aware UTC datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The current time when the statement runs (after it got the row lock), in a
# form the vendor's datetime column holds. PostgreSQL's now() and
# CURRENT_TIMESTAMP are the transaction's start, before any wait for the lock.
# "%%": these statements go through the driver's parameter formatting.
# SQLite has milliseconds and compares the text: written here as Django writes
# a datetime parameter ("...:05" or "...:05.123000"), so that the thread
# list's keyset comparisons (selectors.thread_list_for_user) see equal times
# as equal.
_DATABASE_NOW = {
    "postgresql": "clock_timestamp()",
    "sqlite": (
        "(SELECT CASE WHEN substr(t, 21) = '000' THEN substr(t, 1, 19) ELSE t || '000' END "
        "FROM (SELECT strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now') AS t))"
    ),
}


@dataclass(frozen=True)
class _Statements:
    lock_count_and_time: str
    previous_id_and_sender_unread: str
    insert: str
    count_members: str
    add_to_total: str
    # (number of users) -> the UPDATE of their totals; and, on PostgreSQL, the
    # same with count_members in one statement.
    add_to_totals: Callable[[int], str]
    counts_and_totals: Callable[[int], str] | None


@functools.cache
def _statements(vendor: str) -> _Statements:
    """The statements of insert_in_order, in this database's quoting."""
    statements = _separate_statements(vendor)
    if vendor != "postgresql":
        return statements
    quote = connection.ops.quote_name
    user = quote(Membership._meta.get_field("user").column)
    unread = quote(Membership._meta.get_field("unread_count").column)
    profile_user = quote(ChatProfile._meta.get_field("user").column)
    total = quote(ChatProfile._meta.get_field("unread_total").column)
    version = quote(ChatProfile._meta.get_field("unread_version").column)

    # One round trip for the participants' counts and totals: two UPDATEs of
    # two tables in data-modifying CTEs, joined on the user.
    def counts_and_totals(n: int) -> str:
        return (
            f"WITH counted AS ({statements.count_members}), "
            f"totals AS ({statements.add_to_totals(n)}) "
            f"SELECT counted.{user}, counted.{unread}, totals.{total}, totals.{version} "
            f"FROM counted "
            f"LEFT JOIN totals ON totals.{profile_user} = counted.{user}"
        )

    return dataclasses.replace(statements, counts_and_totals=functools.cache(counts_and_totals))


def _separate_statements(vendor: str) -> _Statements:
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    threads, messages = quote(Thread._meta.db_table), quote(Message._meta.db_table)
    members, profiles = quote(Membership._meta.db_table), quote(ChatProfile._meta.db_table)
    insert_columns = ", ".join(
        column(Message, name)
        for name in ("thread", "sender", "text", "created", "client_id", "attachments")
    )
    count, last = column(Thread, "message_count"), column(Thread, "last_message")
    member_user, member_thread = column(Membership, "user"), column(Membership, "thread")
    sent, read = column(Membership, "sent_count"), column(Membership, "last_read_id")
    unread = column(Membership, "unread_count")
    total, version = column(ChatProfile, "unread_total"), column(ChatProfile, "unread_version")
    profile_user = column(ChatProfile, "user")
    # RETURNING and ON CONFLICT ... DO UPDATE: PostgreSQL, and SQLite since 3.35.
    return _Statements(
        lock_count_and_time=(
            f"UPDATE {threads} SET {last} = {_DATABASE_NOW[vendor]}, "
            f"{count} = {count} + 1 WHERE {column(Thread, 'id')} = %s RETURNING {count}, {last}"
        ),
        previous_id_and_sender_unread=(
            f"SELECT (SELECT MAX({column(Message, 'id')}) FROM {messages} "
            f"WHERE {column(Message, 'thread')} = %s), "
            f"(SELECT {unread} FROM {members} WHERE {member_thread} = %s AND {member_user} = %s)"
        ),
        insert=(
            f"INSERT INTO {messages} ({insert_columns}) VALUES (%s, %s, %s, %s, %s, %s) "
            f"RETURNING {column(Message, 'id')}"
        ),
        # The sender: one more sent, everything read up to this message.
        # Everyone else: one more unread.
        count_members=(
            f"UPDATE {members} SET "
            f"{sent} = {sent} + CASE WHEN {member_user} = %s THEN 1 ELSE 0 END, "
            f"{read} = CASE WHEN {member_user} = %s THEN %s ELSE {read} END, "
            f"{unread} = CASE WHEN {member_user} = %s THEN 0 ELSE {unread} + 1 END "
            f"WHERE {member_thread} = %s RETURNING {member_user}, {unread}"
        ),
        add_to_totals=functools.cache(
            lambda n: (
                f"UPDATE {profiles} SET "
                f"{total} = {total} + CASE WHEN {profile_user} = %s THEN %s ELSE 1 END, "
                f"{version} = {version} + 1 WHERE {profile_user} IN ({', '.join(['%s'] * n)}) "
                f"RETURNING {profile_user}, {total}, {version}"
            )
        ),
        counts_and_totals=None,
        # Upsert: a profile is made by the first change of its total.
        add_to_total=(
            f"INSERT INTO {profiles} ({profile_user}, {total}, {version}, "
            f"{column(ChatProfile, 'send_receipts')}, {column(ChatProfile, 'show_presence')}, "
            f"{column(ChatProfile, 'notifications')}) VALUES (%s, %s, 1, TRUE, TRUE, FALSE) "
            f"ON CONFLICT ({profile_user}) DO UPDATE SET {total} = {profiles}.{total} + %s, "
            f"{version} = {profiles}.{version} + 1 RETURNING {total}, {version}"
        ),
    )
