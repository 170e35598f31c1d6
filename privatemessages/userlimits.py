"""
Per-user limits, across all of a user's sockets and server processes
(docs/protocol.md, "Limits"):

- how fast the user may send messages (a token bucket);
- how many stored messages "sync" may replay to the user per second (a token
  bucket charged by page size, which paces a storm of catch-ups);
- how many sockets the user may have open at once;
- how fast the user may look up usernames (the new-message form's suggestions).

With REDIS_URL the state is in Redis, so that the limits hold however the
sockets are spread over processes; without it, in this process's memory (one
process: the development server). The time is Redis's own (TIME), so that
the processes' clocks need not agree.

A socket's message saved on the event loop takes the token of the user's next
message in its own publish round trip (take_ahead): a steady sender's message
costs one round trip to Redis, not two, and the budget is spent one message
early, never late.

An open socket is a lease in Redis that its process renews while the socket
lives: the sockets of a process that crashed stop counting when their leases
run out, instead of holding the user's count up for good.

If Redis cannot be reached the limits let everything through (and say so in
the log): they protect the service, and refusing every user would be the
outage they are there to prevent.
"""

import asyncio
import itertools
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.client import Pipeline

from myproject.redis import get_redis, redis_key

from .conf import app_settings
from .per_loop import per_loop
from .ratelimit import TokenBucket

logger = logging.getLogger(__name__)

SEND = "send"
REPLAY = "replay"
SEARCH = "search"

# The longest a sync waits for the replay budget before it answers "more"
# with a retry hint: well under the quiet time after which the browser
# takes a connection for dead (socket.js).
REPLAY_MAX_WAIT = 10.0

# Seconds an open socket counts without being renewed, and how often a
# process renews its sockets' leases.
SOCKET_LEASE = 60.0
RENEW_EVERY = SOCKET_LEASE / 3

# The longest a limit waits for Redis before letting the frame through, and
# how long it then lets everything through before asking again, in seconds.
STORE_TIMEOUT = 1.0
STORE_RETRY_AFTER = 5.0

_LIMITS_DOWN = "Could not reach the store of the per-user limits; letting everything through"

# How often Redis trouble is logged, at most, in seconds.
_WARN_EVERY = 60.0

# Take *cost* tokens (ARGV[3]) from the bucket KEYS[1] of ARGV[1] tokens per
# second and ARGV[2] at most. Allowed while one token is left, possibly into
# debt (a page of replay costs its size). Returns "0", or the seconds until a
# token is back. A full bucket expires: it is the same as a missing one.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
if tokens < 1 then
  return tostring((1 - tokens) / rate)
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return '0'
"""

# Add the socket ARGV[3] to the user's set KEYS[1] (socket -> lease end) if
# fewer than ARGV[1] unexpired leases are in it; ARGV[2] is the lease. 1 or 0.
_OPEN = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1)
return 1
"""

# Extend the leases of the sockets ARGV[2..] in the sets KEYS[1..] by ARGV[1]
# seconds. XX: a socket that closed meanwhile is not brought back.
_RENEW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(lease) + 1)
end
return #KEYS
"""

# Sockets renewed per script call.
_RENEW_BATCH = 500

# This process's sockets are named "<process>:<pid>:<n>" in Redis (the pid:
# a process forked after import shares the random part).
_PROCESS = uuid.uuid4().hex[:12]
_socket_numbers = itertools.count(1)


@dataclass(frozen=True)
class Rate:
    rate: float
    burst: int


def send_rate() -> Rate:
    return Rate(app_settings.USER_SEND_RATE, app_settings.USER_SEND_BURST)


def search_rate() -> Rate:
    return Rate(app_settings.USER_SEARCH_RATE, app_settings.USER_SEARCH_BURST)


def replay_rate() -> Rate:
    return Rate(app_settings.USER_REPLAY_RATE, app_settings.USER_REPLAY_BURST)


@dataclass(frozen=True)
class SocketSlot:
    """One open socket, counted against its user's limit until released."""

    user_id: int
    name: str


class _MemoryStore:
    """The limits in this process's memory, for a site without Redis."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, int], TokenBucket] = {}
        self.sockets: dict[int, set[str]] = {}
        # take_now runs on the event loop and in the database threads.
        self._lock = threading.Lock()

    async def take(self, kind: str, user_id: int, rate: Rate, cost: float) -> float:
        return self.take_now(kind, user_id, rate, cost)

    def take_now(self, kind: str, user_id: int, rate: Rate, cost: float) -> float:
        key = (kind, user_id)
        with self._lock:
            bucket = self.buckets.get(key)
            if bucket is None or (bucket.rate, bucket.burst) != (rate.rate, rate.burst):
                if len(self.buckets) > 10_000:
                    # A full bucket is the same as none: forget those.
                    self.buckets = {k: b for k, b in self.buckets.items() if not b.full}
                bucket = self.buckets[key] = TokenBucket(rate=rate.rate, burst=rate.burst)
            return bucket.try_take(cost)

    async def open_socket(self, slot: SocketSlot, limit: int) -> bool:
        open_ = self.sockets.setdefault(slot.user_id, set())
        if len(open_) >= limit:
            return False
        open_.add(slot.name)
        return True

    async def close_socket(self, slot: SocketSlot) -> None:
        open_ = self.sockets.get(slot.user_id)
        if open_ is not None:
            open_.discard(slot.name)
            if not open_:
                del self.sockets[slot.user_id]


class _RedisStore:
    """The limits in Redis, shared by every process; one per event loop."""

    def __init__(self, url: str) -> None:
        # One connection, the calls taking turns on it: a pool's bookkeeping
        # cost about as much CPU as the call itself, and every call is short.
        # Quick to give up: the limits sit on the message path.
        self.client = aioredis.Redis.from_url(
            url, single_connection_client=True, socket_timeout=2, socket_connect_timeout=2
        )
        self._take = self.client.register_script(_TAKE)
        # The same script from synchronous code (a message's database thread,
        # which then needs no hop back to the event loop); redis-py's pool
        # serves each thread its own connection.
        self._take_now = redis.Redis.from_url(
            url, socket_timeout=STORE_TIMEOUT, socket_connect_timeout=STORE_TIMEOUT
        ).register_script(_TAKE)
        self._open = self.client.register_script(_OPEN)
        self._renew = self.client.register_script(_RENEW)
        # This loop's open sockets, renewed by _renewer while there are any.
        self.open: dict[str, SocketSlot] = {}
        self._renewer: asyncio.Task | None = None

    async def take(self, kind: str, user_id: int, rate: Rate, cost: float) -> float:
        answer = await self._take(
            keys=[redis_key(f"pm:limit:{kind}:{user_id}")], args=[rate.rate, rate.burst, cost]
        )
        return float(answer)

    def queue_take(self, pipe: Pipeline, kind: str, user_id: int, rate: Rate, cost: float) -> None:
        """take, queued in *pipe*: its answer is that command's result."""
        # EVAL, not EVALSHA: a pipeline would check the script's SHA first, in a
        # round trip of its own.
        pipe.eval(_TAKE, 1, redis_key(f"pm:limit:{kind}:{user_id}"), rate.rate, rate.burst, cost)

    def take_now(self, kind: str, user_id: int, rate: Rate, cost: float) -> float:
        answer = self._take_now(
            keys=[redis_key(f"pm:limit:{kind}:{user_id}")], args=[rate.rate, rate.burst, cost]
        )
        return float(answer)

    async def open_socket(self, slot: SocketSlot, limit: int) -> bool:
        allowed = await self._open(
            keys=[_sockets_key(slot.user_id)], args=[limit, SOCKET_LEASE, slot.name]
        )
        if not allowed:
            return False
        self.open[slot.name] = slot
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.ensure_future(self._renew_while_open())
        return True

    async def close_socket(self, slot: SocketSlot) -> None:
        self.open.pop(slot.name, None)
        await self.client.zrem(_sockets_key(slot.user_id), slot.name)

    async def renew(self) -> None:
        """Extend the lease of every socket open on this loop."""
        slots = list(self.open.values())
        for start in range(0, len(slots), _RENEW_BATCH):
            batch = slots[start : start + _RENEW_BATCH]
            await self._renew(
                keys=[_sockets_key(slot.user_id) for slot in batch],
                args=[SOCKET_LEASE, *(slot.name for slot in batch)],
            )

    async def _renew_while_open(self) -> None:
        while self.open:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await self.renew()
            except (redis.RedisError, OSError):
                _warn("Could not renew the socket leases")


def _sockets_key(user_id: int) -> str:
    return redis_key(f"pm:sockets:{user_id}")


class UserLimits:
    """The per-user limits as the sockets of one event loop see them."""

    def __init__(self, store: _MemoryStore | _RedisStore) -> None:
        self.store = store
        # (kind, user) -> when its bucket has a token again (time.monotonic):
        # until then a refusal is answered here, without asking the store, so
        # that a flood costs the store one call per refill rather than per frame.
        self._refused_until: dict[tuple[str, int], float] = {}
        # Users whose next message's token was taken with their last one's publish.
        self._taken_ahead: set[int] = set()
        # After the store failed, it is not asked until then (time.monotonic):
        # calls take turns on one connection, and with Redis hanging each
        # would wait out its timeout behind the others.
        self._down_until = 0.0

    def redis_client(self) -> aioredis.Redis | None:
        """This loop's Redis connection, for other per-user state (presence), or None."""
        return getattr(self.store, "client", None)

    def message_refused_for(self, user_id: int) -> float:
        """
        Return the seconds *user_id* must still wait after a refused message,
        or 0: the check on the event loop before a message's database hop, so
        that a flood is refused there without a hop or a store call.
        """
        return self._still_refused((SEND, user_id), time.monotonic())

    async def take_message(self, user_id: int) -> float:
        """
        take_message_now from the event loop (a message saved there, loop_db.py):
        no round trip if the user's previous message took this one's token
        in its publish (take_ahead).
        """
        refused = self._still_refused((SEND, user_id), time.monotonic())
        if refused:
            return refused
        if user_id in self._taken_ahead:
            self._taken_ahead.discard(user_id)
            return 0.0
        return await self._take(SEND, user_id, send_rate(), 1)

    def take_ahead(self, user_id: int) -> Callable[[Pipeline], Callable[[list], None]] | None:
        """
        The take of *user_id*'s next message, for the Redis round trip that
        publishes this one (group_send.AlsoInPublish), so that the next
        take_message needs none of its own. The budget is spent one message
        early: never looser than a take per message. None without Redis, or
        with a token already in hand.
        """
        if not isinstance(self.store, _RedisStore) or user_id in self._taken_ahead:
            return None

        def queue(pipe: Pipeline) -> Callable[[list], None]:
            index = len(pipe)
            self.store.queue_take(pipe, SEND, user_id, send_rate(), 1)

            def answered(results: list) -> None:
                retry = float(results[index])
                if retry:
                    self._remember_refusal((SEND, user_id), time.monotonic() + retry)
                    return
                if len(self._taken_ahead) > 10_000:
                    self._taken_ahead.clear()  # a token lost costs a round trip, no more
                self._taken_ahead.add(user_id)

            return answered

        return queue

    def take_message_now(self, user_id: int) -> float:
        """
        Count one message of *user_id*, from synchronous code (the message's
        database thread, before its transaction): return 0 if allowed, else
        seconds to wait. Fails open, like the others.
        """
        key = (SEND, user_id)
        now = time.monotonic()
        refused = self._still_refused(key, now)
        if refused:
            return refused
        if now < self._down_until:
            return 0.0
        try:
            retry = self.store.take_now(SEND, user_id, send_rate(), 1)
        except (redis.RedisError, OSError):
            self._down_until = time.monotonic() + STORE_RETRY_AFTER
            _warn(_LIMITS_DOWN)
            return 0.0
        if retry:
            self._remember_refusal(key, now + retry)
        return retry

    async def take_replay(self, user_id: int, count: int) -> float:
        """Count *count* replayed messages: return 0 if allowed, else seconds to wait."""
        return await self._take(REPLAY, user_id, replay_rate(), count)

    async def pace_replay(self, user_id: int, count: int) -> float:
        """
        Wait until *user_id*'s replay budget allows a page of *count*
        messages, and count it; return 0, or, if that would take longer
        than REPLAY_MAX_WAIT, the seconds after which to ask again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLAY_MAX_WAIT
        while True:
            retry = await self.take_replay(user_id, count)
            if not retry:
                return 0.0
            if loop.time() + retry > deadline:
                return retry
            # Jitter: the sockets waiting for one budget do not all ask at once.
            await asyncio.sleep(retry * random.uniform(1.0, 1.25))

    async def open_socket(self, user_id: int) -> SocketSlot | None:
        """Count a new socket of *user_id*; return its slot, or None if it is one too many."""
        slot = SocketSlot(user_id, f"{_PROCESS}:{os.getpid()}:{next(_socket_numbers)}")
        limit = app_settings.USER_MAX_SOCKETS
        allowed = await self.ask(self.store.open_socket, slot, limit, unavailable=True)
        return slot if allowed else None

    async def close_socket(self, slot: SocketSlot) -> None:
        """Stop counting the socket of *slot* (unreachable, its lease runs out by itself)."""
        await self.ask(self.store.close_socket, slot, unavailable=None)

    async def _take(self, kind: str, user_id: int, rate: Rate, cost: float) -> float:
        key = (kind, user_id)
        now = time.monotonic()
        refused = self._still_refused(key, now)
        if refused:
            return refused
        retry = await self.ask(self.store.take, kind, user_id, rate, cost, unavailable=0.0)
        if retry:
            self._remember_refusal(key, now + retry)
        return retry

    def _still_refused(self, key: tuple[str, int], now: float) -> float:
        """The seconds left of *key*'s last refusal, or 0 (and the refusal forgotten)."""
        until = self._refused_until.get(key)
        if until is None:
            return 0.0
        if now < until:
            return until - now
        self._refused_until.pop(key, None)
        return 0.0

    def _remember_refusal(self, key: tuple[str, int], until: float) -> None:
        # Called from the event loop and the database threads: each step is
        # one dict operation, and a lost entry only costs one store call more.
        if len(self._refused_until) > 10_000:
            now = time.monotonic()
            self._refused_until = {k: t for k, t in self._refused_until.items() if t > now}
        self._refused_until[key] = until

    async def ask(self, call, *args, unavailable, failure: str = _LIMITS_DOWN):
        """
        Return ``await call(*args)``, or *unavailable* if Redis fails (fail open):
        for these limits and for what shares their connection (presence.py).
        """
        if time.monotonic() < self._down_until:
            return unavailable
        try:
            async with asyncio.timeout(STORE_TIMEOUT):
                return await call(*args)
        except (redis.RedisError, OSError):  # OSError: TimeoutError too
            self._down_until = time.monotonic() + STORE_RETRY_AFTER
            _warn(failure)
            return unavailable


def take_search(user_id: int) -> float:
    """
    Count one username lookup of *user_id*, from synchronous code (a view):
    return 0 if allowed, else seconds to wait. Fails open, like the others.
    """
    client = get_redis()
    if client is None:
        return _memory_store.take_now(SEARCH, user_id, search_rate(), 1)
    rate = search_rate()
    try:
        answer = client.register_script(_TAKE)(
            keys=[redis_key(f"pm:limit:{SEARCH}:{user_id}")], args=[rate.rate, rate.burst, 1]
        )
    except (redis.RedisError, OSError):
        _warn(_LIMITS_DOWN)
        return 0.0
    return float(answer)


_memory_store = _MemoryStore()


def _make_user_limits() -> UserLimits:
    return UserLimits(_RedisStore(settings.REDIS_URL) if settings.REDIS_URL else _memory_store)


# The running event loop's UserLimits (a Redis client serves one loop).
get_user_limits = per_loop(_make_user_limits)


_last_warning = 0.0


def _warn(what: str) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY:
        _last_warning = now
        logger.warning("%s (Redis unavailable?)", what, exc_info=True)
