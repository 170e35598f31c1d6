"""
The database backend of durable dialogs, for sites without Redis.

A request holds its session inside one transaction: it locks the session's DialogSession row
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite, which locks the whole database for a writer,
an UPDATE first, so that the transaction takes the write lock before it reads), runs the
script, writes a DialogTurn and the row, and commits. Processes on a shared PostgreSQL
serialise each session and nothing else; on SQLite, processes of one machine take turns.
"""

import datetime
import json
import math
from typing import Any

from django.db import DatabaseError, OperationalError, connections, transaction
from django.db.models import F
from django.utils import timezone

from alice.engine.durable import DurableSessionStore, Handle, decode_turn, encode_turn
from alice.engine.storage import Session, SessionBusy, SessionStoreError, Turn
from alice.models import DialogSession, DialogTurn

__all__ = ["DatabaseSessionStore"]

_FIELDS = ("pk", "rev", "turns", "message_id", "response", "over", "expires")
# PostgreSQL's lock_not_available: lock_timeout ran out.
_LOCK_NOT_AVAILABLE = "55P03"


def _busy(exc: OperationalError) -> bool:
    """Return whether *exc* means that another transaction holds the session."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
        return True
    return "database is locked" in str(exc)  # SQLite past its busy_timeout


class _DbHandle(Handle):
    __slots__ = ("atomic", "pk")

    def __init__(self, stored: Session | None, atomic: Any, pk: int) -> None:
        super().__init__(stored)
        self.atomic = atomic
        self.pk = pk


class DatabaseSessionStore(DurableSessionStore):
    """
    Keep a skill's sessions in the database (DialogSession and DialogTurn rows).

    *using* is the database alias. Expired sessions are ignored when read; delete them with
    ``manage.py alice_clearsessions``.
    """

    def __init__(self, *, using: str = "default", **options: Any) -> None:
        super().__init__(**options)
        self.using = using

    def _sessions(self, session_id: str):  # -> QuerySet[DialogSession]
        return DialogSession.objects.using(self.using).filter(
            namespace=self.namespace, session_id=session_id
        )

    def _stored(self, session_id: str, row: dict[str, Any]) -> Session | None:
        if row["turns"] == 0 or row["expires"] <= timezone.now():
            return None
        return Session(
            session_id,
            turns=row["turns"],
            message_id=row["message_id"],
            response=json.loads(row["response"]) if row["response"] else None,
            over=row["over"],
            rev=row["rev"],
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
        return _DbHandle(self._stored(session_id, row), atomic, row["pk"])

    def _lock_row(self, session_id: str, timeout: float | None) -> dict[str, Any]:
        """Lock the session's row for this transaction, creating it if needed; return it."""
        connection = connections[self.using]
        if connection.features.has_select_for_update:
            if connection.vendor == "postgresql":
                # Transaction-local: wait for another request of the session this long only.
                milliseconds = 0 if timeout is None else max(1, math.ceil(timeout * 1000))
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('lock_timeout', %s, true)", [f"{milliseconds}ms"]
                    )
            row = self._sessions(session_id).select_for_update().values(*_FIELDS).first()
            if row is None:
                self._create_row(session_id)
                row = self._sessions(session_id).select_for_update().values(*_FIELDS).get()
            return row
        # SQLite: write first, so that the transaction holds the write lock before it reads
        # (a read first would pin a snapshot that another writer can invalidate).
        if not self._sessions(session_id).update(turns=F("turns")):
            self._create_row(session_id)
        return self._sessions(session_id).values(*_FIELDS).get()

    def _create_row(self, session_id: str) -> None:
        # Two first requests at once: one inserts, the other's insert waits, then does nothing.
        DialogSession.objects.using(self.using).bulk_create(
            [
                DialogSession(
                    namespace=self.namespace, session_id=session_id, expires=timezone.now()
                )
            ],
            ignore_conflicts=True,
        )

    def _write(self, handle: Handle, session: Session, turn: Turn | None) -> None:
        assert isinstance(handle, _DbHandle)
        turns = DialogTurn.objects.using(self.using)
        try:
            if session.turns == 1 or session.over:
                turns.filter(session_id=handle.pk).delete()
            if turn is not None:
                turns.create(session_id=handle.pk, number=session.turns, record=encode_turn(turn))
            DialogSession.objects.using(self.using).filter(pk=handle.pk).update(
                rev=session.rev,
                turns=session.turns,
                message_id=session.message_id,
                response=json.dumps(session.response, ensure_ascii=False, separators=(",", ":")),
                over=session.over,
                expires=timezone.now() + datetime.timedelta(seconds=self.idle_timeout),
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
        try:
            row = self._sessions(session_id).values(*_FIELDS).first()
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc
        return None if row is None else self._stored(session_id, row)

    def history(self, session_id: str) -> list[Turn]:
        """Return the recorded turns of the session, oldest first."""
        handle = self._held.get(session_id)
        turns = DialogTurn.objects.using(self.using)
        if isinstance(handle, _DbHandle):
            turns = turns.filter(session_id=handle.pk)
        else:
            turns = turns.filter(session__namespace=self.namespace, session__session_id=session_id)
        try:
            records = turns.order_by("number").values_list("record", flat=True)
            return [decode_turn(record) for record in records]
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc

    def _forget(self, session_id: str) -> None:
        try:
            self._sessions(session_id).delete()
        except DatabaseError as exc:
            raise SessionStoreError(f"database: {exc}") from exc

    def __repr__(self) -> str:
        return (
            f"<DatabaseSessionStore {self.namespace!r} on {self.using!r}: "
            f"idle_timeout={self.idle_timeout}, max_turns={self.max_turns}, "
            f"{self.live_sessions} live here>"
        )


def clear_expired(*, using: str = "default", now: datetime.datetime | None = None) -> int:
    """Delete the sessions (and their turns) idle past their expiry; return how many."""
    expired = DialogSession.objects.using(using).filter(expires__lt=now or timezone.now())
    _, deleted = expired.delete()
    return deleted.get(DialogSession._meta.label, 0)
