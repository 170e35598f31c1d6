"""
The database backend of durable dialogs, for sites without Redis.

A request holds its session inside one transaction: it locks the session's DialogSession row
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite, which locks the whole database for a writer,
an UPDATE first, so that the transaction takes the write lock before it reads), runs the
script, writes a DialogTurn and the row, and commits. Processes on a shared PostgreSQL
serialise each session and nothing else; on SQLite, processes of one machine take turns.

The statements of a request are SQL written here, through Django's cursor: building them
with the ORM cost several times their round trip to the database (bench/README.md,
"Finished comparisons").
"""

import datetime
import json
import math
from typing import Any

from django.db import DatabaseError, OperationalError, connections, transaction
from django.utils import timezone

from alice.engine.durable import DurableSessionStore, Handle, decode_turn
from alice.engine.storage import Held, Session, SessionBusy, SessionStoreError, Turn
from alice.models import DialogSession, DialogTurn

__all__ = ["DatabaseSessionStore"]

# PostgreSQL's lock_not_available: lock_timeout ran out.
_LOCK_NOT_AVAILABLE = "55P03"


def _busy(exc: OperationalError) -> bool:
    """Return whether *exc* means that another transaction holds the session."""
    if getattr(exc.__cause__, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
        return True
    return "database is locked" in str(exc)  # SQLite past its busy_timeout


_STATEMENTS: dict[str, dict[str, str]] = {}


def _statements(connection: Any) -> dict[str, str]:
    """Return the SQL of the store for the vendor of *connection* (PostgreSQL or SQLite)."""
    statements = _STATEMENTS.get(connection.vendor)
    if statements is None:
        statements = _STATEMENTS[connection.vendor] = _build_statements(connection)
    return statements


def _build_statements(connection: Any) -> dict[str, str]:
    quote = connection.ops.quote_name
    session = quote(DialogSession._meta.db_table)
    turn = quote(DialogTurn._meta.db_table)
    where = f"{quote('namespace')} = %s AND {quote('session_id')} = %s"
    columns = ", ".join(
        quote(name)
        for name in ("id", "rev", "turns", "message_id", "response", "over", "recorded_bytes")
    )
    read = f"SELECT {columns}, {quote('expires')} > %s FROM {session} WHERE {where}"
    return {
        "read": read,
        "lock": read + (" FOR UPDATE" if connection.features.has_select_for_update else ""),
        # SQLite: a write takes the database's write lock (waiting up to busy_timeout).
        "touch": f"UPDATE {session} SET {quote('turns')} = {quote('turns')} WHERE {where}",
        "create": (
            f"INSERT INTO {session} ({quote('namespace')}, {quote('session_id')}, "
            f"{quote('rev')}, {quote('turns')}, {quote('response')}, {quote('over')}, "
            f"{quote('expires')}) VALUES (%s, %s, '', 0, '', %s, %s) "
            f"ON CONFLICT ({quote('namespace')}, {quote('session_id')}) DO NOTHING"
        ),
        "forget_turns": f"DELETE FROM {turn} WHERE {quote('session_id')} = %s",
        "add_turn": (
            f"INSERT INTO {turn} ({quote('session_id')}, {quote('number')}, {quote('record')}) "
            "VALUES (%s, %s, %s)"
        ),
        "update": (
            f"UPDATE {session} SET {quote('rev')} = %s, {quote('turns')} = %s, "
            f"{quote('message_id')} = %s, {quote('response')} = %s, {quote('over')} = %s, "
            f"{quote('recorded_bytes')} = %s, {quote('expires')} = %s WHERE {quote('id')} = %s"
        ),
        "history": (
            f"SELECT {quote('record')} FROM {turn} WHERE {quote('session_id')} = %s "
            f"ORDER BY {quote('number')}"
        ),
    }


class _DbHandle(Handle):
    __slots__ = ("atomic", "pk")

    def __init__(self, stored: Session | None, atomic: Any, pk: int) -> None:
        super().__init__(stored)
        self.atomic = atomic
        self.pk = pk


class DatabaseSessionStore(DurableSessionStore):
    """
    Keep a skill's sessions in the database (DialogSession and DialogTurn rows).

    *using* is the database alias. Expired sessions are ignored when read; clear_expired()
    deletes them (``manage.py alice_clearsessions``).
    """

    def __init__(self, *, using: str = "default", **options: Any) -> None:
        super().__init__(**options)
        self.using = using

    def _sql(self) -> tuple[Any, dict[str, str]]:
        connection = connections[self.using]
        return connection, _statements(connection)

    def _now(self, connection: Any, delay: float = 0) -> Any:
        moment = timezone.now() + datetime.timedelta(seconds=delay)
        return connection.ops.adapt_datetimefield_value(moment)

    def _stored(self, session_id: str, row: tuple[Any, ...]) -> Session | None:
        _, rev, turns, message_id, response, over, recorded_bytes, alive = row
        if not turns or not alive:
            return None
        return Session(
            session_id,
            turns=turns,
            message_id=message_id,
            response=json.loads(response) if response else None,
            over=bool(over),
            rev=rev,
            recorded_bytes=recorded_bytes,
        )

    def _acquire(self, session_id: str, timeout: float | None) -> Handle:
        atomic = transaction.atomic(using=self.using)
        atomic.__enter__()
        try:
            row = self._lock_row(session_id, timeout)
        except BaseException as exc:
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, OperationalError) and _busy(exc):
                raise SessionBusy("another transaction holds the session") from exc
            if isinstance(exc, DatabaseError):
                raise SessionStoreError(f"database: {exc}") from exc
            raise
        return _DbHandle(self._stored(session_id, row), atomic, row[0])

    def _lock_row(self, session_id: str, timeout: float | None) -> tuple[Any, ...]:
        """Lock the session's row for this transaction, creating it if needed; return it."""
        connection, sql = self._sql()
        key = [self.namespace, session_id]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Transaction-local: wait for another request of the session this long only.
                milliseconds = 0 if timeout is None else max(1, math.ceil(timeout * 1000))
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"]
                )
            elif not connection.features.has_select_for_update:
                # SQLite: write first, so that the transaction holds the write lock before it
                # reads (a read first would pin a snapshot another writer can invalidate).
                self._touch_within(cursor, sql["touch"], key, timeout)
            now = self._now(connection)
            cursor.execute(sql["lock"], [now, *key])
            row = cursor.fetchone()
            if row is None:
                # Two first requests at once: one inserts, the other's insert waits for it,
                # then does nothing; both then lock the row.
                cursor.execute(sql["create"], [*key, False, now])
                cursor.execute(sql["lock"], [now, *key])
                row = cursor.fetchone()
        return row

    @staticmethod
    def _touch_within(cursor: Any, statement: str, key: list[str], timeout: float | None) -> None:
        """
        Run *statement* (SQLite's write lock) waiting at most *timeout* for another writer:
        SQLite waits the connection's busy_timeout, so set it for this statement only.
        """
        if timeout is None:
            cursor.execute(statement, key)
            return
        cursor.execute("PRAGMA busy_timeout")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA busy_timeout = {max(1, math.ceil(timeout * 1000))}")
        try:
            cursor.execute(statement, key)
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")

    def _write(self, handle: Handle, session: Session, record: str | None) -> None:
        assert isinstance(handle, _DbHandle)
        connection, sql = self._sql()
        try:
            with connection.cursor() as cursor:
                if session.turns == 1 or session.over:
                    cursor.execute(sql["forget_turns"], [handle.pk])
                if record is not None:
                    cursor.execute(sql["add_turn"], [handle.pk, session.turns, record])
                response = json.dumps(session.response, ensure_ascii=False, separators=(",", ":"))
                cursor.execute(
                    sql["update"],
                    [
                        session.rev,
                        session.turns,
                        session.message_id,
                        response,
                        session.over,
                        session.recorded_bytes,
                        self._now(connection, self.idle_timeout),
                        handle.pk,
                    ],
                )
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc

    def _finish(self, handle: Handle, failed: bool) -> None:
        assert isinstance(handle, _DbHandle)
        if failed:
            transaction.set_rollback(True, using=self.using)
        try:
            handle.atomic.__exit__(None, None, None)
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc

    def _read(self, session_id: str) -> Session | None:
        connection, sql = self._sql()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql["read"], [self._now(connection), self.namespace, session_id])
                row = cursor.fetchone()
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc
        return None if row is None else self._stored(session_id, row)

    def history(self, session_id: str, held: Held | None = None) -> list[Turn]:
        """Return the recorded turns of the session, oldest first."""
        handle = self._handle(held)
        try:
            if not isinstance(handle, _DbHandle):
                turns = DialogTurn.objects.using(self.using).filter(
                    session__namespace=self.namespace, session__session_id=session_id
                )
                records = turns.order_by("number").values_list("record", flat=True)
                return [decode_turn(record) for record in records]
            connection, sql = self._sql()
            with connection.cursor() as cursor:
                cursor.execute(sql["history"], [handle.pk])
                return [decode_turn(record) for (record,) in cursor.fetchall()]
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc

    def _forget(self, session_id: str) -> None:
        sessions = DialogSession.objects.using(self.using)
        try:
            sessions.filter(namespace=self.namespace, session_id=session_id).delete()
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc

    def clear_expired(self, now: datetime.datetime | None = None) -> int:
        """Delete the sessions (and their turns) of every skill idle past their expiry (or
        *now*); return how many."""
        expired = DialogSession.objects.using(self.using).filter(expires__lt=now or timezone.now())
        try:
            _, deleted = expired.delete()
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc
        return deleted.get(DialogSession._meta.label, 0)

    def __repr__(self) -> str:
        return (
            f"<DatabaseSessionStore {self.namespace!r} on {self.using!r}: "
            f"idle_timeout={self.idle_timeout}, max_turns={self.max_turns}, "
            f"{self.live_sessions} live here>"
        )
