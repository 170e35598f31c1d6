"""
The statements that save a message, in plain SQL: they run for every message,
on the thread that commits them, and through the ORM they cost several times
the CPU (query compilation, model saving). services.message_create alone calls
them: ``insert_and_commit`` where the message is a transaction of its own (on
PostgreSQL, outside any transaction: ``commits_alone``), ``insert_in_order``
inside the caller's transaction; services.message_create_on_loop calls
``insert_and_commit_on_loop``, the same query from the event loop.

On PostgreSQL the three statements are prepared once per connection and sent
as one query, so a message costs the server no parsing or planning and the
process one round trip; on SQLite (development) they run one at a time.
"""

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.db import IntegrityError, ProgrammingError, connection
from django.utils.dateparse import parse_datetime

from . import loop_db
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
    if connection.vendor == "postgresql":
        return _insert_in_one_query(
            thread_id, sender_id, participant_ids, text, client_id, attachments
        )
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
        else:
            cursor.execute(sql.count_members, count_args)
            counted = cursor.fetchall()
            cursor.execute(sql.add_to_totals(len(changed)), totals_args)
            found = {row[0]: row[1:] for row in cursor.fetchall()}
            rows = [
                (user_id, unread, *found.get(user_id, (None, None))) for user_id, unread in counted
            ]
        return _saved(
            cursor,
            sender_id=sender_id,
            changed=changed,
            sender_unread=sender_unread,
            rows=rows,
            message_id=message_id,
            prev_id=prev_id,
            total=total,
            created=created,
        )


def commits_alone() -> bool:
    """
    Whether insert_and_commit can save a message here: on PostgreSQL, outside
    any transaction (a socket's or a view's message). Inside one (a caller's
    atomic block, a test's), insert_in_order joins it.
    """
    return (
        connection.vendor == "postgresql"
        and connection.get_autocommit()
        and not connection.in_atomic_block
    )


def insert_and_commit(
    *,
    thread_id: int,
    sender_id: int,
    participant_ids: list[int],
    text: str,
    client_id: str,
    attachments: dict | None = None,
) -> Saved:
    """
    insert_in_order in a transaction of its own, committed when this returns
    (only where commits_alone()): the statements go to the server in one
    query, which PostgreSQL runs as one transaction, rolled back whole if a
    statement fails. Raises ThreadGone, or the database's error
    (IntegrityError for a resent client_id) with nothing saved.
    """
    try:
        return _insert_in_one_query(
            thread_id, sender_id, participant_ids, text, client_id, attachments
        )
    except ProgrammingError as error:
        if not _statement_missing(error):
            raise
        # Something deallocated this connection's statements (DISCARD ALL):
        # nothing was saved; prepare them again and save.
        _prepared_on.pop(connection.connection, None)
        return _insert_in_one_query(
            thread_id, sender_id, participant_ids, text, client_id, attachments
        )


def _insert_in_one_query(
    thread_id: int,
    sender_id: int,
    participant_ids: list[int],
    text: str,
    client_id: str,
    attachments: dict | None,
) -> Saved:
    """
    insert_in_order on PostgreSQL: the same work in three prepared statements
    sent as one query (one round trip, one parse of short EXECUTEs). No
    statement takes a value from an earlier one's result: each reads what it
    needs from the rows the earlier ones wrote in this transaction (see
    _prepare). Each still takes its own snapshot, after the
    thread's lock.
    """
    with connection.cursor() as cursor:
        query, params, prepares = _one_query(
            connection.connection,
            thread_id,
            sender_id,
            participant_ids,
            text,
            client_id,
            _attachments_value(attachments),
        )
        cursor.execute(query, params)
        for _ in range(prepares):  # the PREPAREs' results
            cursor.nextset()
        thread_row = cursor.fetchone()
        cursor.nextset()
        message_row = cursor.fetchone()
        cursor.nextset()
        return _saved_of_one_query(thread_row, message_row, cursor.fetchall())


async def insert_and_commit_on_loop(
    *, thread_id: int, sender_id: int, participant_ids: list[int], text: str, client_id: str
) -> Saved:
    """
    insert_and_commit from the event loop, on one of its own connections
    (loop_db.py): the same query, and the same errors (ThreadGone, Django's
    IntegrityError for a resent client_id) with nothing saved. A person's
    message: no attachments.
    """
    pool = await loop_db.loop_pool()
    args = (thread_id, sender_id, participant_ids, text, client_id)
    async with pool.connection() as raw:
        try:
            try:
                return await _insert_on_loop(raw, *args)
            except psycopg.errors.InvalidSqlStatementName:
                _prepared_on.pop(raw, None)  # as insert_and_commit
                return await _insert_on_loop(raw, *args)
        except psycopg.IntegrityError as error:
            raise IntegrityError(*error.args) from error


async def _insert_on_loop(
    raw: psycopg.AsyncConnection,
    thread_id: int,
    sender_id: int,
    participant_ids: list[int],
    text: str,
    client_id: str,
) -> Saved:
    query, params, prepares = _one_query(
        raw, thread_id, sender_id, participant_ids, text, client_id, None
    )
    async with raw.cursor() as cursor:
        await cursor.execute(query, params)
        for _ in range(prepares):
            cursor.nextset()
        thread_row = await cursor.fetchone()
        cursor.nextset()
        message_row = await cursor.fetchone()
        cursor.nextset()
        return _saved_of_one_query(thread_row, message_row, await cursor.fetchall())


def _one_query(
    raw: Any,
    thread_id: int,
    sender_id: int,
    participant_ids: list[int],
    text: str,
    client_id: str,
    attachments: Any,
) -> tuple[str, list, int]:
    """
    The query of _insert_in_one_query on the psycopg connection *raw*, its
    parameters, and how many PREPAREs lead it (the statements *raw* has not
    prepared yet). *attachments* as the driver takes them.
    """
    participant_ids = sorted(participant_ids)  # the profiles' locks in key order
    counts = f"{_COUNTS}_{len(participant_ids)}"
    prepared = _prepared_on.setdefault(raw, set())
    missing = [name for name in (_LOCK, _INSERT, counts) if name not in prepared]
    # Counted as prepared even if a later statement fails: a PREPARE is not
    # undone by the rollback.
    prepared.update(missing)
    query = (
        "".join(f"{_prepare(name)}; " for name in missing)
        + f"EXECUTE {_LOCK} (%s); "
        + f"EXECUTE {_INSERT} (%s, %s, %s, %s, %s); "
        + f"EXECUTE {counts} ({', '.join(['%s'] * (2 + len(participant_ids)))})"
    )
    params = [
        thread_id,
        *(sender_id, text, client_id, attachments, thread_id),
        *(thread_id, sender_id, *participant_ids),
    ]
    return query, params, len(missing)


def _saved_of_one_query(
    thread_row: tuple | None, message_row: tuple | None, rows: list[tuple]
) -> Saved:
    """The Saved of the one query's results: the lock's, the insert's, the counts'."""
    if thread_row is None:
        raise ThreadGone
    total, created = thread_row
    message_id, prev_id = message_row
    return Saved(
        message_id=message_id,
        prev_id=prev_id or 0,
        total=total,
        created=_as_aware(created),
        unread={user_id: count for user_id, count, _, _ in rows},
        totals={
            user_id: (unread_total, version)
            for user_id, _, unread_total, version in rows
            if unread_total is not None
        },
    )


# The statements prepared on each PostgreSQL connection (psycopg's, which the
# pool keeps): prepared in the first query that needs them, then executed by
# name, so the server neither parses nor plans them again.
_prepared_on: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()


def _statement_missing(error: ProgrammingError) -> bool:
    return isinstance(error.__cause__, psycopg.errors.InvalidSqlStatementName)


def _saved(
    cursor,
    *,
    sender_id: int,
    changed: list[int],
    sender_unread: int | None,
    rows: list[tuple],
    message_id: int,
    prev_id: int | None,
    total: int,
    created: datetime,
) -> Saved:
    """The Saved of a message from its participants' *rows* (user, unread, total, version)."""
    unread = {user_id: count for user_id, count, _, _ in rows}
    totals = {
        user_id: (unread_total, version)
        for user_id, _, unread_total, version in rows
        if unread_total is not None
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


def _attachments_value(attachments: dict | None):
    """*attachments* as the driver takes it for the JSON column (psycopg's Jsonb, text)."""
    if attachments is None:
        return None
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
    # (number of users) -> the UPDATE of their totals.
    add_to_totals: Callable[[int], str]


@functools.cache
def _statements(vendor: str) -> _Statements:
    """The statements of insert_in_order, one at a time, in this database's quoting."""
    return _separate_statements(vendor)


# The names of the prepared statements (the counts' end in the number of participants).
_LOCK, _INSERT, _COUNTS = "pm_message_lock", "pm_message_insert", "pm_message_counts"


@functools.cache
def _prepare(name: str) -> str:
    """
    The PREPARE of the statement *name* of _insert_in_one_query (PostgreSQL);
    the counts' made on first use for each number of participants.
    """
    # Ids are declared bigint whatever their columns (a custom user model may
    # have bigint ids); PostgreSQL casts them where a column is an integer.
    quote = connection.ops.quote_name

    def column(model, field: str) -> str:
        return quote(model._meta.get_field(field).column)

    threads, messages = quote(Thread._meta.db_table), quote(Message._meta.db_table)
    members, profiles = quote(Membership._meta.db_table), quote(ChatProfile._meta.db_table)
    message_id, message_thread = column(Message, "id"), column(Message, "thread")
    thread_id, last = column(Thread, "id"), column(Thread, "last_message")
    if name == _LOCK:
        # As lock_count_and_time ($1: the thread).
        lock = _separate_statements("postgresql").lock_count_and_time.replace("%s", "$1")
        return f"PREPARE {_LOCK} (bigint) AS {lock}"
    if name == _INSERT:
        # $1 sender, $2 text, $3 client_id, $4 attachments, $5 thread. Dated by
        # the thread's last_message as the lock set it; nothing inserted if
        # the thread is gone. Returns the id and the thread's message before
        # it (the statement's snapshot, taken after the lock, has every
        # earlier message of the thread and not this one).
        columns = ", ".join(
            column(Message, field)
            for field in ("thread", "sender", "text", "created", "client_id", "attachments")
        )
        return (
            f"PREPARE {_INSERT} (bigint, text, text, jsonb, bigint) AS "
            f"INSERT INTO {messages} ({columns}) "
            f"SELECT {thread_id}, $1, $2, {last}, $3, $4 FROM {threads} WHERE {thread_id} = $5 "
            f"RETURNING {message_id}, "
            f"(SELECT MAX(earlier.{message_id}) FROM {messages} earlier "
            f"WHERE earlier.{message_thread} = $5 "
            f"AND earlier.{message_id} < {messages}.{message_id})"
        )
    # The counts: $1 thread, $2 sender, $3... the participants. The members'
    # counts and the profiles' totals in one statement. The sender's unread
    # count is read in the statement's snapshot, before its own UPDATE
    # (data-modifying CTEs do not see each other's changes); the message's id
    # is the thread's newest, which under the thread's lock is this
    # transaction's. The profiles are upserted (a user with no profile yet
    # gets one, as add_to_total does) and locked in key order (ORDER BY), so
    # that messages in threads of overlapping people cannot deadlock on them.
    n = int(name.rsplit("_", 1)[1])
    member_user, member_thread = column(Membership, "user"), column(Membership, "thread")
    sent, read = column(Membership, "sent_count"), column(Membership, "last_read_id")
    unread = column(Membership, "unread_count")
    total, version = column(ChatProfile, "unread_total"), column(ChatProfile, "unread_version")
    profile_user = column(ChatProfile, "user")
    flags = ", ".join(
        column(ChatProfile, field) for field in ("send_receipts", "show_presence", "notifications")
    )
    sender_unread = "COALESCE((SELECT unread FROM sender), 0)"
    participants = ", ".join(f"(${i})" for i in range(3, 3 + n))
    return (
        f"PREPARE {name} ({', '.join(['bigint'] * (2 + n))}) AS "
        f"WITH sender AS (SELECT {unread} AS unread FROM {members} "
        f"WHERE {member_thread} = $1 AND {member_user} = $2), "
        f"message AS (SELECT MAX({message_id}) AS id FROM {messages} "
        f"WHERE {message_thread} = $1), "
        f"counted AS (UPDATE {members} SET "
        f"{sent} = {sent} + CASE WHEN {member_user} = $2 THEN 1 ELSE 0 END, "
        f"{read} = CASE WHEN {member_user} = $2 THEN (SELECT id FROM message) ELSE {read} END, "
        f"{unread} = CASE WHEN {member_user} = $2 THEN 0 ELSE {unread} + 1 END "
        f"WHERE {member_thread} = $1 RETURNING {member_user}, {unread}), "
        f"totals AS (INSERT INTO {profiles} ({profile_user}, {total}, {version}, {flags}) "
        f"SELECT changed.id, CASE WHEN changed.id = $2 THEN 0 ELSE 1 END, 1, TRUE, TRUE, FALSE "
        f"FROM (VALUES {participants}) AS changed (id) "
        f"WHERE changed.id <> $2 OR {sender_unread} <> 0 "
        f"ORDER BY changed.id "
        f"ON CONFLICT ({profile_user}) DO UPDATE SET "
        f"{total} = {profiles}.{total} + CASE WHEN {profiles}.{profile_user} = $2 "
        f"THEN -{sender_unread} ELSE 1 END, "
        f"{version} = {profiles}.{version} + 1 "
        f"RETURNING {profile_user}, {total}, {version}) "
        f"SELECT counted.{member_user}, counted.{unread}, totals.{total}, totals.{version} "
        f"FROM counted LEFT JOIN totals ON totals.{profile_user} = counted.{member_user}"
    )


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
        # Upsert: a profile is made by the first change of its total.
        add_to_total=(
            f"INSERT INTO {profiles} ({profile_user}, {total}, {version}, "
            f"{column(ChatProfile, 'send_receipts')}, {column(ChatProfile, 'show_presence')}, "
            f"{column(ChatProfile, 'notifications')}) VALUES (%s, %s, 1, TRUE, TRUE, FALSE) "
            f"ON CONFLICT ({profile_user}) DO UPDATE SET {total} = {profiles}.{total} + %s, "
            f"{version} = {profiles}.{version} + 1 RETURNING {total}, {version}"
        ),
    )
