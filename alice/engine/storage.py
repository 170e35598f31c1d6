"""
Where sessions live between requests: a small interface and the in-memory backend.

A dialog's state is a suspended Python generator, which cannot be serialised: it lives in the
memory of the process that runs it. A durable backend (alice.engine.durable) keeps instead
what a retry needs and each turn's inputs, from which any process rebuilds the generator by
replaying them through the script.
"""

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Self

__all__ = [
    "Held",
    "MemorySessionStore",
    "Session",
    "SessionBusy",
    "SessionMoved",
    "SessionStore",
    "SessionStoreError",
    "Turn",
    "default_store",
    "set_default_store",
    "settings_options",
]


class SessionBusy(Exception):
    """Another request of the session held its lock for longer than the caller would wait."""


class SessionMoved(BaseException):
    """
    The dialog moved on without this process: its generator is behind the stored session.

    Raised by a durable store that let a request run on its generator without reading the
    store first (the fast path), when the store shows that another process served the
    session since. The request then holds the session's lock, and answers again from
    ``stored`` (None: the session is gone). A BaseException, because recorded() raises it
    from inside a script, whose ``except Exception`` must not swallow it.
    """

    def __init__(self, stored: "Session | None") -> None:
        super().__init__("another process served the session since")
        self.stored = stored


class SessionStoreError(Exception):
    """The store's backend (Redis, the database) failed; the request cannot be answered."""


@dataclass(slots=True, eq=False)
class Session:
    """One dialog between requests."""

    session_id: str
    # The suspended script. Process-local, never serialised: a durable store returns None
    # here for a dialog this process does not hold, and the skill rebuilds it by replay.
    generator: Generator[dict[str, Any], None, Any] | None = None
    # How many requests the generator has consumed: 1 after the one that started it.
    turns: int = 0
    # The last request answered and its response, so that a retry gets the same answer.
    message_id: int | None = None
    response: dict[str, Any] | None = None
    # The dialog has ended (end_session, a failure, the turn cap): the next request that is
    # not a retry starts the script over.
    over: bool = False
    # A durable store's revision of the session, new on every save: a generator kept in
    # memory is current only while its revision is the stored one.
    rev: str | None = None
    # Bytes of the turns a recording store keeps for the dialog: what a replay reads.
    recorded_bytes: int = 0


@dataclass(slots=True, eq=False)
class Turn:
    """What replaying one request needs: the inputs the script read, and a check."""

    # What replay.recordable() keeps of the request: what changes from one request of the
    # session to the next, no secrets (the user's access_token).
    request: dict[str, Any]
    # The values recorded() returned during the turn, in order.
    values: list[Any]
    # A digest of the response the turn gave: a replay that answers otherwise diverged.
    digest: str


class Held:
    """
    A request's hold on one session: lock() returns it, entering it takes the lock (and
    returns it), leaving it frees the lock.

    ``session`` is the session as get() would return it, read under the lock. The request
    passes its hold to save(), confirm() and history(): whatever the backend needs for the
    request (its connection, transaction, lock token) travels with it, not in the store.
    """

    __slots__ = ()

    session_id: str
    session: Session | None

    def __enter__(self) -> Self:
        raise NotImplementedError

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        raise NotImplementedError


def settings_options(settings: Any) -> dict[str, Any]:
    """Return the options every store takes from *settings* (the ALICE_* names)."""
    return {
        "idle_timeout": settings.ALICE_SESSION_IDLE_TIMEOUT,
        "max_sessions": settings.ALICE_MAX_SESSIONS,
        "max_turns": settings.ALICE_MAX_TURNS,
    }


class SessionStore(ABC):
    """
    Keep the sessions of one skill.

    A store is built from the site's settings by from_settings(), as Django builds its cache
    and session backends: each store reads its own options, in options_from_settings().
    The skill calls, for each request: ``with lock(...) as held`` around everything, then
    save(held, ...) after the script answered. A store that records turns (``records_turns``)
    is also asked for history() when ``held.session`` has no generator. Implementations must
    be safe to call from many threads at once.
    """

    # Whether save() keeps each Turn, so that history() can rebuild a generator.
    records_turns: bool = False
    # Requests a dialog may take; past it the skill ends the dialog politely (None: no cap).
    max_turns: int | None = None
    # Bytes of recorded turns a dialog may reach, likewise (None: no cap; only a store that
    # records turns counts them).
    max_session_bytes: int | None = None

    @classmethod
    def from_settings(cls, settings: Any, *, namespace: str, **options: Any) -> Self:
        """
        Return the store of the skill called *namespace*, configured by *settings* (Django's,
        or any object with the same attributes); *options* override what they give.
        """
        return cls(**{**cls.options_from_settings(settings), "namespace": namespace, **options})

    @classmethod
    def options_from_settings(cls, settings: Any) -> dict[str, Any]:
        """Return the constructor options this store reads from *settings*."""
        return settings_options(settings)

    @abstractmethod
    def lock(
        self, session_id: str, timeout: float | None = None, *, new_session: bool = False
    ) -> Held:
        """
        Return the hold of one session: a context manager that serialises its requests.

        Entering it reads the session into ``held.session``. Raise SessionBusy on entering
        when the lock is not acquired within *timeout* seconds. *new_session* says that the
        request starts a new dialog (``session.new``), which reads nothing of the stored
        session: a store may then leave ``held.session`` None and skip reading it.
        """

    @abstractmethod
    def get(self, session_id: str) -> Session | None:
        """Return the session, or None when it is unknown, expired or evicted."""

    @abstractmethod
    def save(self, held: Held, session: Session, turn: Turn | None) -> None:
        """
        Store *session* after it answered a request, while *held* (its hold) is entered.

        *turn* is the request's record, or None when none is kept (the store does not record
        turns, or the dialog is over). ``session.turns == 1`` means the script was
        (re)started by this request: a recording store starts a new history with *turn*;
        otherwise it appends, and adds the size of the turn's record to
        ``session.recorded_bytes``. Raise SessionBusy when the lock was lost meanwhile
        (nothing is saved then).
        """

    def history(self, session_id: str, held: Held | None = None) -> list[Turn]:
        """
        Return the turns recorded for the session, oldest first; inside a request, *held* is
        its hold (None: outside any request, e.g. a tool reading a dialog).
        """
        raise NotImplementedError(f"{type(self).__name__} does not record turns")

    def confirm(self, held: Held) -> None:
        """
        Called before a turn's first outside call (recorded()): a store that may run a turn
        on a generator another process has moved past checks here, raising SessionMoved.
        """
        return  # nothing to check for a store that always locks first

    @abstractmethod
    def delete(self, session_id: str) -> None:
        """Forget the session, if it is known."""

    def clear_expired(self) -> int:
        """
        Delete the sessions idle past their expiry, of every skill the backend keeps; return
        how many. ``manage.py alice_clearsessions`` calls it, from cron. A no-op (0) where
        the backend expires sessions by itself (Redis's TTL, a process's memory).
        """
        return 0


class _KeyedLock:
    """Lock one key; its lock object exists only while somebody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list[Any]] = {}  # key -> [Lock, number of holders and waiters]

    def __call__(self, key: str, timeout: float | None = None) -> "_KeyHeld":
        return _KeyHeld(self, key, -1 if timeout is None else timeout)

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


class _KeyHeld:
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
            raise SessionBusy("another request of this process holds the session")

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
        self._owner._leave(self._key)


class _HeldSession(_KeyHeld, Held):
    """Hold one session of a MemorySessionStore."""

    __slots__ = ("_store", "session", "session_id")

    def __init__(self, store: "MemorySessionStore", key: str, timeout: float) -> None:
        super().__init__(store._locks, key, timeout)
        self._store = store
        self.session_id = key

    def __enter__(self) -> Self:  # type: ignore[override]
        super().__enter__()
        self.session = self._store.get(self._key)
        return self


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
        max_turns: int | None = None,
        namespace: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.max_turns = max_turns
        self.namespace = namespace
        self._clock = clock
        # session id -> (last save time, session), oldest save first.
        self._sessions: OrderedDict[str, tuple[float, Session]] = OrderedDict()
        self._guard = threading.Lock()
        self._locks = _KeyedLock()

    def lock(
        self, session_id: str, timeout: float | None = None, *, new_session: bool = False
    ) -> Held:
        """Return the hold of one session: a context manager that serialises its requests
        (*new_session* changes nothing: reading the session here is free)."""
        return _HeldSession(self, session_id, -1 if timeout is None else timeout)

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

    def save(self, held: Held | None, session: Session, turn: Turn | None = None) -> None:
        """
        Store *session* as the most recently used, then evict what is over the limits. No
        hold is needed (*held* None): the store keeps nothing per request.
        """
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
