"""
Sessions that outlive a process: the record in a shared backend, the generators kept here.

A durable store records every turn of a dialog (what replay.recordable() keeps of the
request, the recorded() values, a digest of the response) in a backend that all the
processes share (Redis, a database), with the session's last response for retries and a
revision that changes on every save. The generators stay in the memory of the process that
ran them, as the fast path. A process that gets a request for a session whose stored
revision is not the one of its own generator (another process served the last turn, this
one restarted, or evicted it) gets the session without a generator, and the skill rebuilds
it by replaying the history().

The fast path: a backend that can write "only if the session is still at revision R and
nobody holds its lock" in one atomic step (``optimistic_turns``) lets a request for a dialog
whose generator this process holds run on it at once, without a first round trip to lock
and read. The save then either lands (one round trip for the turn) or finds that the dialog
moved on elsewhere: it takes the lock in the same step, drops the stale generator and
raises SessionMoved, and the skill answers again from the record. A turn that calls
recorded() confirms first (lock, then compare revisions), so that outside calls are made
only on a current generator. The first request of a dialog (``session.new``) takes the
fast path too, wherever it lands: it starts the script over whatever is stored, so it needs
nothing read, and its write ("only if nobody holds the lock", at any revision) replaces the
stored session as a locked request's would.

Subclasses implement the backend: _acquire, _write, _finish, _read, history and _forget, and
_write_if_current for the fast path.
"""

import json
import os
import random
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, Self

from .protocol import compact_json
from .storage import (
    Held,
    MemorySessionStore,
    Session,
    SessionMoved,
    SessionStore,
    Turn,
    settings_options,
)

__all__ = [
    "DEFAULT_MAX_SESSION_BYTES",
    "DurableSessionStore",
    "decode_turn",
    "encode_turn",
]

# Room for the turn cap's worth of ordinary turns, and no more: a replay reads and runs
# through all of them (bench/README.md, "Attacks").
DEFAULT_MAX_SESSION_BYTES = 64 * 1024


# Revisions and lock tokens need to be unique, not secret: a generator seeded from the OS
# (reseeded in a forked child, e.g. a server's worker) costs no system call per request.
_tokens = random.Random(os.urandom(16))
os.register_at_fork(after_in_child=lambda: _tokens.seed(os.urandom(16)))


def new_rev() -> str:
    """Return a new revision token of a session (or a lock token)."""
    return f"{_tokens.getrandbits(64):016x}"


def encode_turn(turn: Turn) -> str:
    """Return *turn* as compact JSON."""
    return compact_json([turn.request, turn.values, turn.digest])


def decode_turn(text: str | bytes) -> Turn:
    """Return the Turn that encode_turn() gave *text* for."""
    request, values, digest = json.loads(text)
    return Turn(request, values, digest)


class Handle:
    """
    A held lock of a backend; subclasses add what the backend needs to write and free it.
    The request's hold (_DurableHeld) carries it from lock() to save() and back.
    """

    __slots__ = ("pending", "stored")

    # True for the fast path's handle: no lock is held, the turn runs on this process's
    # generator and is saved only if the session is still at its revision.
    optimistic = False

    def __init__(self, stored: Session | None) -> None:
        # The session as stored when the lock was taken (no generator), or None.
        self.stored = stored
        # The session written by save(), to keep as live once the write is final.
        self.pending: Session | None = None


class OptimisticHandle(Handle):
    """
    A turn run without a lock held: on *live*, this process's generator, or (*live* None)
    on a new dialog, whose first turn reads nothing of what the backend stores.
    """

    __slots__ = ("deadline", "expected_rev")

    optimistic = True

    def __init__(self, live: Session | None, deadline: float | None) -> None:
        super().__init__(live)
        # The revision the turn must find in the backend to be saved; None for a new
        # dialog, which replaces whatever is stored, as it would under the lock.
        self.expected_rev = None if live is None else live.rev
        # When the request stops waiting for the lock, should it need to take it.
        self.deadline = deadline

    def remaining(self) -> float | None:
        """Return the seconds left to wait for the lock (None: no limit)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


class DurableSessionStore(SessionStore):
    """
    Keep a skill's sessions in a backend shared by processes, and their generators here.

    *idle_timeout* is how long the backend keeps an idle session; *max_sessions* bounds the
    generators kept in this process (least recently used first out: an evicted dialog is
    replayed on its next request; 0 keeps none and replays every request); *max_turns* and
    *max_session_bytes* (bytes of recorded turns) cap a dialog, so that a replay stays short.
    """

    records_turns = True
    # Whether the backend implements _write_if_current(), the fast path (see the module).
    optimistic_turns = False

    def __init__(
        self,
        *,
        namespace: str = "",
        idle_timeout: float = 1800,
        max_sessions: int = 10_000,
        max_turns: int | None = 200,
        max_session_bytes: int | None = DEFAULT_MAX_SESSION_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.namespace = namespace
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.max_turns = max_turns
        self.max_session_bytes = max_session_bytes
        # The generators of this process, with the revision each was saved at.
        self._live = MemorySessionStore(
            idle_timeout=idle_timeout, max_sessions=max_sessions, clock=clock
        )

    @classmethod
    def options_from_settings(cls, settings: Any) -> dict[str, Any]:
        """Return the common options and the record's cap, ALICE_MAX_SESSION_BYTES."""
        return {
            **settings_options(settings),
            "max_session_bytes": settings.ALICE_MAX_SESSION_BYTES,
        }

    def lock(
        self, session_id: str, timeout: float | None = None, *, new_session: bool = False
    ) -> Held:
        """Return the hold of one session: a context manager that serialises its requests
        everywhere. With *new_session* (and ``optimistic_turns``), the turn runs at once, on
        no stored session: see the module."""
        return _DurableHeld(self, session_id, timeout, new_session)

    def get(self, session_id: str) -> Session | None:
        """Return the session as stored (with its generator when this process holds it)."""
        return self._with_generator(self._read(session_id))

    def save(self, held: Held, session: Session, turn: Turn | None) -> None:
        """
        Write the session and its new turn to the backend under a new revision.

        On the fast path, raise SessionMoved (holding the lock then) if another process
        served the session since this process's generator was saved, or another request
        holds it: nothing is written.
        """
        assert isinstance(held, _DurableHeld)
        handle = held.handle
        session.rev = new_rev()
        record = None if turn is None else encode_turn(turn)
        if record is not None:
            earlier = 0 if session.turns == 1 else session.recorded_bytes
            session.recorded_bytes = earlier + len(record.encode())
        if isinstance(handle, OptimisticHandle):
            locked = self._write_if_current(
                handle.expected_rev, session, record, timeout=handle.remaining()
            )
            if locked is not None:
                self._moved(held, locked)
            handle.pending = session
            return
        self._write(handle, session, record)
        handle.pending = session

    def confirm(self, held: Held) -> None:
        """
        Make sure that the request's turn runs on the current generator of the session.

        A no-op unless the turn is on the fast path; then take the session's lock (one
        round trip) and raise SessionMoved if the stored revision is not the generator's
        (a new dialog's first turn goes on whatever is stored: it replaces it).
        The skill has recorded() call it before the first outside call of a turn.
        """
        assert isinstance(held, _DurableHeld)
        handle = held.handle
        if not isinstance(handle, OptimisticHandle):
            return
        locked = self._acquire(held.session_id, handle.remaining())
        if handle.expected_rev is not None and (
            locked.stored is None or locked.stored.rev != handle.expected_rev
        ):
            self._moved(held, locked)
        # Current: the turn goes on under the lock, on the generator it started on.
        locked.stored = handle.stored
        held.handle = locked

    def _moved(self, held: "_DurableHeld", locked: Handle) -> None:
        """Hold *locked* for the rest of the request, drop the stale generator, tell the skill."""
        held.handle = locked
        self._live.delete(held.session_id)
        raise SessionMoved(locked.stored)

    def delete(self, session_id: str) -> None:
        """Forget the session here and in the backend."""
        self._live.delete(session_id)
        self._forget(session_id)

    @property
    def live_sessions(self) -> int:
        """Return how many generators this process keeps."""
        return len(self._live)

    def _with_generator(self, stored: Session | None) -> Session | None:
        """Return this process's live copy of *stored* when it is current, else *stored*."""
        if stored is None:
            return None
        live = self._live.get(stored.session_id)
        if live is not None and live.rev == stored.rev:
            return live
        return stored

    # The backend.

    @abstractmethod
    def _acquire(self, session_id: str, timeout: float | None) -> Handle:
        """Lock the session in the backend and read it; raise SessionBusy after *timeout*."""

    @abstractmethod
    def _write(self, handle: Handle, session: Session, record: str | None) -> None:
        """
        Write *session* (and *record*, its new turn as encode_turn() gives it: a new history
        when ``session.turns == 1``, dropped when the session is over). Raise SessionBusy if
        the lock was lost: nothing written.
        """

    @abstractmethod
    def _finish(self, handle: Handle, failed: bool) -> None:
        """Make the write final (unless *failed*) and free the lock."""

    def _write_if_current(
        self,
        expected_rev: str | None,
        session: Session,
        record: str | None,
        timeout: float | None,
    ) -> Handle | None:
        """
        The fast path's save, atomic: if nobody holds the session's lock and it is stored at
        *expected_rev*, write *session* and *record* as _write() does and return None;
        otherwise take the lock (waiting up to *timeout*, SessionBusy after it), write
        nothing, and return the held handle with the session as stored. *expected_rev*
        None (a new dialog's first turn): at any revision, or none stored.
        """
        raise NotImplementedError(f"{type(self).__name__} has no fast path")

    @staticmethod
    def _handle(held: Held | None) -> Handle | None:
        """Return the backend's handle in *held*, for history(): None outside a request."""
        return held.handle if isinstance(held, _DurableHeld) else None

    @abstractmethod
    def _read(self, session_id: str) -> Session | None:
        """Return the session as stored, without a generator, or None."""

    @abstractmethod
    def _forget(self, session_id: str) -> None:
        """Delete the session from the backend."""


class _DurableHeld(Held):
    """Hold a session: this process's lock first, then the backend's (``handle``)."""

    __slots__ = ("_local", "_new", "_store", "_timeout", "handle", "session", "session_id")

    def __init__(
        self, store: DurableSessionStore, session_id: str, timeout: float | None, new: bool
    ) -> None:
        self._store = store
        self.session_id = session_id
        self._timeout = timeout
        self._new = new
        # Requests of one session in this process wait here, not by polling the backend.
        self._local = store._live._locks(session_id, -1 if timeout is None else timeout)

    def __enter__(self) -> Self:
        started = time.monotonic()
        self._local.__enter__()
        store = self._store
        timeout = self._timeout
        if timeout is not None:
            timeout = max(0.0, timeout - (time.monotonic() - started))
        if store.optimistic_turns:
            # A new dialog starts the script over, whatever is stored: nothing to read.
            live = None if self._new else store._live.get(self.session_id)
            if live is not None or self._new:
                # The fast path: no round trip now; save() checks that the dialog is still
                # here (or, for a new one, that no other request holds it).
                deadline = None if timeout is None else time.monotonic() + timeout
                self.handle = OptimisticHandle(live, deadline)
                self.session = live
                return self
        try:
            handle = store._acquire(self.session_id, timeout)
        except BaseException:
            self._local.__exit__(None, None, None)
            raise
        self.handle = handle
        self.session = store._with_generator(handle.stored)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        store = self._store
        # The handle save() or confirm() left: the fast path's may have become a lock.
        handle = self.handle
        pending = handle.pending
        final = False
        try:
            if not handle.optimistic:  # which holds no lock, and wrote already if at all
                store._finish(handle, failed=exc_type is not None)
            final = exc_type is None
        finally:
            if pending is not None and final and pending.generator is not None:
                store._live.save(None, pending)
            elif pending is not None or exc_type is not None:
                # Over, or not saved: a generator that ran ahead of the record is useless.
                store._live.delete(self.session_id)
            self._local.__exit__(None, None, None)
