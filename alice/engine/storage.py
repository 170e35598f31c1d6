"""
Where sessions live between requests: a small interface and the in-memory backend.

A dialog's state is a suspended Python generator, which cannot be serialised: it lives in the
memory of the process that runs it. A durable backend keeps instead what a retry needs and
the inputs the session received, from which another process can rebuild the generator by
replaying them; it is handed both through save().
"""

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MemorySessionStore",
    "Session",
    "SessionBusy",
    "SessionStore",
    "default_store",
    "set_default_store",
]


class SessionBusy(Exception):
    """Another request of the session held its lock for longer than the caller would wait."""


@dataclass(slots=True, eq=False)
class Session:
    """One dialog between requests."""

    session_id: str
    # The suspended script; None once the dialog is over. Process-local, never serialised: a
    # durable backend returns None here for a dialog that is live in another process, and
    # the skill would rebuild it by replaying the logged inputs (not done yet).
    generator: Generator[dict[str, Any], None, Any] | None = None
    # How many requests the generator has consumed: 1 after the one that started it.
    turns: int = 0
    # The last request answered and its response, so that a retry gets the same answer.
    message_id: int | None = None
    response: dict[str, Any] | None = None


class SessionStore(ABC):
    """
    Keep the sessions of one skill.

    The skill calls, for each request: lock() around everything, get(), then save() after the
    script answered (or delete() to forget the session). Implementations must be safe to call
    from many threads at once.
    """

    @abstractmethod
    def lock(self, session_id: str, timeout: float | None = None) -> AbstractContextManager[Any]:
        """
        Return a context manager that serialises the requests of one session.

        Raise SessionBusy on entering when the lock is not acquired within *timeout* seconds.
        """

    @abstractmethod
    def get(self, session_id: str) -> Session | None:
        """Return the session, or None when it is unknown, expired or evicted."""

    @abstractmethod
    def save(self, session: Session, request: Mapping[str, Any]) -> None:
        """
        Store *session* after it answered *request*.

        ``session.turns == 1`` means the script was (re)started by this request, so a
        backend that records inputs starts a new log with it; otherwise it appends.
        """

    @abstractmethod
    def delete(self, session_id: str) -> None:
        """Forget the session, if it is known."""


class _KeyedLock:
    """Lock one key; its lock object exists only while somebody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list[Any]] = {}  # key -> [Lock, number of holders and waiters]

    def __call__(self, key: str, timeout: float | None = None) -> "_Held":
        return _Held(self, key, -1 if timeout is None else timeout)

    def _enter(self, key: str) -> threading.Lock:
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.Lock(), 0]
            entry[1] += 1
            return entry[0]

    def _leave(self, key: str) -> None:
        with self._guard:
            entry = self._locks[key]
            entry[1] -= 1
            if not entry[1]:
                del self._locks[key]


class _Held:
    """The context manager of one acquisition (a class: cheaper than @contextmanager)."""

    __slots__ = ("_key", "_lock", "_owner", "_timeout")

    def __init__(self, owner: _KeyedLock, key: str, timeout: float) -> None:
        self._owner = owner
        self._key = key
        self._timeout = timeout

    def __enter__(self) -> None:
        self._lock = self._owner._enter(self._key)
        if not self._lock.acquire(timeout=self._timeout):
            self._owner._leave(self._key)
            raise SessionBusy(self._key)

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
        self._owner._leave(self._key)


class MemorySessionStore(SessionStore):
    """
    Keep sessions in this process's memory, least recently used first out.

    A session idle for more than *idle_timeout* seconds is dropped, and so are the least
    recently used ones beyond *max_sessions*: abandoned dialogs do not pile up. Everything is
    lost when the process ends, and each process has its own sessions.
    """

    def __init__(
        self,
        *,
        idle_timeout: float = 1800,
        max_sessions: int = 10_000,
        namespace: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.namespace = namespace
        self._clock = clock
        # session id -> (last save time, session), oldest save first.
        self._sessions: OrderedDict[str, tuple[float, Session]] = OrderedDict()
        self._guard = threading.Lock()
        self._locks = _KeyedLock()

    def lock(self, session_id: str, timeout: float | None = None) -> AbstractContextManager[Any]:
        """Return a context manager that serialises the requests of one session."""
        return self._locks(session_id, timeout)

    def get(self, session_id: str) -> Session | None:
        """Return the session unless it is unknown or has been idle too long."""
        with self._guard:
            item = self._sessions.get(session_id)
            if item is None:
                return None
            if self._clock() - item[0] > self.idle_timeout:
                del self._sessions[session_id]
                return None
            return item[1]

    def save(self, session: Session, request: Mapping[str, Any]) -> None:
        """Store *session* as the most recently used, then evict what is over the limits."""
        now = self._clock()
        with self._guard:
            self._sessions[session.session_id] = (now, session)
            self._sessions.move_to_end(session.session_id)
            self._evict(now)

    def delete(self, session_id: str) -> None:
        """Forget the session."""
        with self._guard:
            self._sessions.pop(session_id, None)

    def evict(self) -> None:
        """Drop the sessions that are idle too long or over the count limit."""
        with self._guard:
            self._evict(self._clock())

    def _evict(self, now: float) -> None:
        sessions = self._sessions
        while len(sessions) > self.max_sessions:
            sessions.popitem(last=False)
        deadline = now - self.idle_timeout
        # Oldest first: stop at the first session recent enough.
        while sessions:
            saved_at, _ = next(iter(sessions.values()))
            if saved_at >= deadline:
                break
            sessions.popitem(last=False)

    def __len__(self) -> int:
        """Return how many sessions are kept."""
        return len(self._sessions)

    def __repr__(self) -> str:
        return (
            f"<MemorySessionStore {self.namespace!r}: {len(self)} sessions, "
            f"idle_timeout={self.idle_timeout}, max_sessions={self.max_sessions}>"
        )


_default_factory: Callable[..., SessionStore] = MemorySessionStore


def set_default_store(factory: Callable[..., SessionStore]) -> None:
    """Make *factory* build the store of every skill not given one (called with namespace=)."""
    global _default_factory
    _default_factory = factory


def default_store(namespace: str) -> SessionStore:
    """Return a new store for the skill called *namespace*, from the default factory."""
    return _default_factory(namespace=namespace)
