"""
The Redis backend of durable sessions: every process reaches every dialog, restarts lose none.

Per session, three keys that share a hash slot (the session id is their hash tag):

- ``<prefix>alice:<namespace>:{<session id>}:meta``, a hash: ``rev`` (changes on every save),
  ``turns``, ``mid`` (the last message_id answered), ``resp`` (its response, JSON, for
  retries), ``over`` ("1" once the dialog ended) and ``bytes`` (the size of the turns);
- ``...:turns``, a list: one JSON ``[request, recorded values, response digest]`` per turn,
  dropped once the dialog is over;
- ``...:lock``: the token of the request that holds the session (SET NX PX), with a TTL so
  that a process that died holding it blocks the session for that long at most.

The meta and turns keys expire after the idle timeout, refreshed on every turn. A request
for a dialog whose generator this process holds costs one round trip: a script writes the
turn, the meta and the TTLs only if nobody holds the lock and the revision is still the
generator's, and otherwise takes the lock and returns the meta (durable.py, the fast path).
So does the first request of a dialog, written at any revision. Any other request costs two:
one script takes the lock and reads the meta, another writes the turn and frees the lock,
only if the lock is still this request's.

A request runs its scripts on one connection with redis-py's connection API (_Script). New
connections come from the client's pool, so its max_connections holds; between requests the
store keeps them checked out, in a list of its own, because a checkout from the pool per
request (its lock, and a poll of the socket) cut the webhook's requests/s under concurrency
(bench/README.md, "Alice over HTTP"). The list is dropped in a forked child, which must not
share its parent's sockets. A connection that fails goes back to the pool closed; the lock is
then tried once more on another (the script takes a lock that already holds its token as
taken).
"""

import hashlib
import json
import math
import os
import time
from functools import cache
from typing import Any, NoReturn

import redis
from redis.connection import Connection
from redis.exceptions import NoScriptError

from .durable import DurableSessionStore, Handle, decode_turn, new_rev
from .protocol import compact_json
from .storage import Held, Session, SessionBusy, SessionStoreError, Turn

__all__ = ["RedisSessionStore"]

# KEYS: lock, meta. ARGV: token, lock TTL (ms). Returns the meta fields, or the lock's PTTL.
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
   and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.call('PTTL', KEYS[1])
end
return redis.call('HMGET', KEYS[2], 'rev', 'turns', 'mid', 'resp', 'over', 'bytes')
"""

# Writes a turn. KEYS: lock, meta, turns. ARGV: token, rev, turns, mid, resp, over, turn JSON
# or "", "1" to start a new history, TTL (s), bytes.
_WRITE = """
if ARGV[8] == '1' or ARGV[6] == '1' then
  redis.call('DEL', KEYS[3])
end
if ARGV[7] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[9])
end
redis.call('HSET', KEYS[2], 'rev', ARGV[2], 'turns', ARGV[3], 'mid', ARGV[4],
           'resp', ARGV[5], 'over', ARGV[6], 'bytes', ARGV[10])
redis.call('EXPIRE', KEYS[2], ARGV[9])
"""

# As _WRITE, if the lock is ours; then frees it. Returns 1, or 0 when the lock is not ours.
_COMMIT = f"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
{_WRITE}
redis.call('DEL', KEYS[1])
return 1
"""

# The fast path (no lock held): as _WRITE if nobody holds the lock and the stored revision
# is ARGV[11] (empty: any revision, or none stored: a new dialog's first turn); returns
# "written". Else, as _ACQUIRE with the token ARGV[1] and the lock TTL ARGV[12] (ms): the
# meta fields, or the lock's PTTL when another request holds it.
_COMMIT_IF_CURRENT = f"""
local holder = redis.call('GET', KEYS[1])
if not holder and (ARGV[11] == '' or redis.call('HGET', KEYS[2], 'rev') == ARGV[11]) then
{_WRITE}
  return 'written'
end
if holder then
  return redis.call('PTTL', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[12])
return redis.call('HMGET', KEYS[2], 'rev', 'turns', 'mid', 'resp', 'over', 'bytes')
"""

# KEYS: lock. ARGV: token. Deletes the lock only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# The meta fields a session is read from, in _session()'s order.
_META_FIELDS = ["rev", "turns", "mid", "resp", "over", "bytes"]


def _session(session_id: str, fields: list[Any]) -> Session | None:
    """Return the session stored in the meta *fields* (_META_FIELDS)."""
    rev, turns, mid, resp, over, size = (_text(value) for value in fields)
    if rev is None:
        return None
    return Session(
        session_id,
        turns=int(turns),
        message_id=None if mid in (None, "") else int(mid),
        response=None if resp in (None, "") else json.loads(resp),
        over=over == "1",
        rev=rev,
        recorded_bytes=int(size or 0),  # none in a session saved before it was counted
    )


class _Script:
    """
    A Lua script, run on one connection by its SHA1 and sent whole only when Redis does not
    know it yet: what redis-py's Script does, without a pool checkout per call.
    """

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, connection: Connection, keys: tuple[str, ...], *args: str | int) -> Any:
        try:
            connection.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
            return connection.read_response()
        except NoScriptError:
            # EVAL also puts the script in Redis's cache, for the next EVALSHA.
            connection.send_command("EVAL", self.source, len(keys), *keys, *args)
            return connection.read_response()


def _call_once_more(
    connection: Connection, script: _Script, keys: tuple[str, ...], *args: Any
) -> Any:
    """
    Run *script*, and once more if the connection broke: one kept idle between requests
    may have been closed meanwhile (e.g. Redis restarted). Both scripts that start a request
    are safe to repeat: _ACQUIRE counts a lock that holds its token as taken, and
    _COMMIT_IF_CURRENT finds its own earlier write as a session that moved on.
    """
    try:
        return script(connection, keys, *args)
    except (redis.ConnectionError, redis.TimeoutError):
        connection.disconnect()
        return script(connection, keys, *args)


_acquire = _Script(_ACQUIRE)
_commit = _Script(_COMMIT)
_commit_if_current = _Script(_COMMIT_IF_CURRENT)
_release = _Script(_RELEASE)


@cache
def _client(url: str) -> redis.Redis:
    """Return the client of *url* that the stores built from settings share."""
    return redis.Redis.from_url(url)


class _RedisHandle(Handle):
    __slots__ = ("connection", "keys", "token", "written")

    def __init__(
        self,
        stored: Session | None,
        connection: Connection,
        keys: tuple[str, str, str],
        token: str,
    ) -> None:
        super().__init__(stored)
        self.connection = connection  # taken from the pool for the whole request
        self.keys = keys  # lock, meta, turns
        self.token = token
        self.written = False


class RedisSessionStore(DurableSessionStore):
    """
    Keep a skill's sessions in Redis, shared by every process; generators stay in each.

    A turn on a generator this process holds, or the first of a dialog, costs one round
    trip (_COMMIT_IF_CURRENT); any other, two (_ACQUIRE, then _COMMIT).

    *client* is a redis-py client; *key_prefix* goes before every key (the site's
    REDIS_KEY_PREFIX). *lock_ttl* is how long, in seconds, a request may hold its session:
    past it another request may take the session, and the late one's answer is not saved.
    """

    optimistic_turns = True

    def __init__(
        self,
        *,
        client: redis.Redis,
        key_prefix: str = "",
        lock_ttl: float = 5.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.client = client
        self.key_prefix = key_prefix
        self.lock_ttl = lock_ttl
        # Connections between requests, most recently used last (list operations are
        # atomic), and the process they belong to.
        self._idle: list[Connection] = []
        self._idle_pid = os.getpid()

    @classmethod
    def options_from_settings(cls, settings: Any) -> dict[str, Any]:
        """Return the common options, a client of REDIS_URL and the site's REDIS_KEY_PREFIX."""
        if not settings.REDIS_URL:
            raise ValueError("RedisSessionStore needs REDIS_URL")
        return {
            **super().options_from_settings(settings),
            "client": _client(settings.REDIS_URL),
            "key_prefix": settings.REDIS_KEY_PREFIX,
        }

    def keys(self, session_id: str) -> tuple[str, str, str]:
        """Return the session's lock, meta and turns keys."""
        base = f"{self.key_prefix}alice:{self.namespace}:{{{session_id}}}"
        return f"{base}:lock", f"{base}:meta", f"{base}:turns"

    def _acquire(self, session_id: str, timeout: float | None) -> Handle:
        keys = self.keys(session_id)
        token = new_rev()
        ttl_ms = math.ceil(self.lock_ttl * 1000)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.002
        connection = self._take()
        try:
            while True:
                reply = _call_once_more(connection, _acquire, keys[:2], token, ttl_ms)
                if isinstance(reply, list):
                    return _RedisHandle(_session(session_id, reply), connection, keys, token)
                # Another process holds the session: poll, backing off, until the deadline.
                wait = min(delay, max(reply, 1) / 1000)
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise SessionBusy("another process holds the session")
                    wait = min(wait, remaining)
                time.sleep(wait)
                delay = min(delay * 2, 0.05)
        except BaseException as exc:
            self._failed(connection, exc)

    def _write(self, handle: Handle, session: Session, record: str | None) -> None:
        assert isinstance(handle, _RedisHandle)
        try:
            written = _commit(
                handle.connection, handle.keys, handle.token, *self._record(session, record)
            )
        except redis.RedisError as exc:
            raise SessionStoreError(f"Redis: {exc}") from exc
        if not written:
            raise SessionBusy("the lock expired before the answer was saved")
        handle.written = True

    def _write_if_current(
        self,
        expected_rev: str | None,
        session: Session,
        record: str | None,
        timeout: float | None,
    ) -> Handle | None:
        session_id = session.session_id
        keys = self.keys(session_id)
        token = new_rev()
        args = (
            *self._record(session, record),
            expected_rev or "",
            math.ceil(self.lock_ttl * 1000),
        )
        connection = self._take()
        try:
            # After a first attempt that did write, the skill answers from the record.
            reply = _call_once_more(connection, _commit_if_current, keys, token, *args)
        except BaseException as exc:
            self._failed(connection, exc)
        if isinstance(reply, list):
            return _RedisHandle(_session(session_id, reply), connection, keys, token)
        self._give_back(connection, None)
        if _text(reply) == "written":
            return None
        # Another request holds the session: wait for it as a request on the slow path does.
        return self._acquire(session_id, timeout)

    def _record(self, session: Session, record: str | None) -> tuple[str | int, ...]:
        """Return the ARGV of _WRITE after the token: the session's meta and its new turn."""
        return (
            session.rev or "",
            session.turns,
            "" if session.message_id is None else session.message_id,
            compact_json(session.response),
            "1" if session.over else "0",
            record or "",
            "1" if session.turns == 1 else "0",
            max(1, math.ceil(self.idle_timeout)),
            session.recorded_bytes,
        )

    def _finish(self, handle: Handle, failed: bool) -> None:
        assert isinstance(handle, _RedisHandle)
        error: BaseException | None = None
        try:
            if not handle.written:  # else the commit freed the lock
                _release(handle.connection, handle.keys[:1], handle.token)
        except redis.RedisError as exc:
            # The lock expires by itself; only the session waits meanwhile.
            error = exc
            raise SessionStoreError(f"Redis: {exc}") from exc
        finally:
            self._give_back(handle.connection, error)

    def _failed(self, connection: Connection, exc: BaseException) -> NoReturn:
        """Give *connection* back (or drop it) after *exc*, and raise it, Redis's as ours."""
        self._give_back(connection, exc)
        if isinstance(exc, redis.RedisError):
            raise SessionStoreError(f"Redis: {exc}") from exc
        raise exc

    def _take(self) -> Connection:
        """Return a kept connection, or a new one from the client's pool, for one request."""
        if self._idle_pid != os.getpid():
            # A forked child: the kept connections are its parent's sockets.
            self._idle, self._idle_pid = [], os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            return self.client.connection_pool.get_connection()
        except redis.RedisError as exc:
            raise SessionStoreError(f"Redis: {exc}") from exc

    def _give_back(self, connection: Connection, error: BaseException | None) -> None:
        """Keep *connection* for another request, or close it if an error left it unusable."""
        if error is not None and not isinstance(error, (SessionBusy, redis.ResponseError)):
            # A reply may still be on its way: never reuse the connection as it is.
            connection.disconnect()
            self.client.connection_pool.release(connection)
            return
        self._idle.append(connection)

    def _read(self, session_id: str) -> Session | None:
        try:
            fields = self.client.hmget(self.keys(session_id)[1], _META_FIELDS)
        except redis.RedisError as exc:
            raise SessionStoreError(f"Redis: {exc}") from exc
        return _session(session_id, fields)

    def history(self, session_id: str, held: Held | None = None) -> list[Turn]:
        """Return the recorded turns of the session, oldest first."""
        key = self.keys(session_id)[2]
        handle = self._handle(held)
        try:
            if isinstance(handle, _RedisHandle):  # inside the request: its connection
                handle.connection.send_command("LRANGE", key, 0, -1)
                items = handle.connection.read_response()
            else:
                items = self.client.lrange(key, 0, -1)
        except redis.RedisError as exc:
            raise SessionStoreError(f"Redis: {exc}") from exc
        return [decode_turn(item) for item in items]

    def _forget(self, session_id: str) -> None:
        _, meta, turns = self.keys(session_id)
        try:
            self.client.delete(meta, turns)
        except redis.RedisError as exc:
            raise SessionStoreError(f"Redis: {exc}") from exc

    def __repr__(self) -> str:
        return (
            f"<RedisSessionStore {self.namespace!r}: idle_timeout={self.idle_timeout}, "
            f"max_turns={self.max_turns}, {self.live_sessions} live here>"
        )
