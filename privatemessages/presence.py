"""
Who is online, and when others were last seen (docs/protocol.md, "Read
positions, unread counts, receipts, typing, presence").

A user is online while a socket of theirs, on any tab and process, has been
active (its tab visible) in the last ONLINE_WINDOW seconds. Each active socket's
entry is refreshed by every keepalive visit (keepalive.py) and heartbeat: with
REDIS_URL a sorted set per user in Redis (socket -> time), expiring when nobody
refreshes it; otherwise this process's memory. No refresh touches the database: the persisted
``ChatProfile.last_seen`` (a fallback for when Redis forgot) is written when a
socket closes, at most once a minute per user and process.

Like the per-user limits, presence fails open: if Redis cannot be reached,
nobody is shown online and nothing else is held up.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis
from django.db.models import Q

from myproject.redis import get_redis, redis_key

from .models import ChatProfile
from .per_loop import per_loop
from .userlimits import UserLimits, get_user_limits

logger = logging.getLogger(__name__)

# Seconds after a socket's last refresh while visible that its user still
# counts as online: a little over two keepalive visits (every 25 s).
ONLINE_WINDOW = 60.0
# How long Redis keeps a user's entries and last-seen time after the last refresh.
KEEP_FOR = 30 * 24 * 3600
# The persisted last_seen is written at most this often per user (per process).
PERSIST_EVERY = 60.0
STORE_TIMEOUT = 1.0


# Kept per chat socket (its partner's, last sent): no instance dictionary.
@dataclass(frozen=True, slots=True)
class Presence:
    online: bool
    # Unix time of the user's last activity, or None if unknown.
    last_seen: float | None

    def as_frame(self) -> dict:
        seen = None
        if self.last_seen is not None:
            moment = datetime.fromtimestamp(self.last_seen, tz=UTC).replace(microsecond=0)
            seen = moment.isoformat().replace("+00:00", "Z")
        return {"online": self.online, "last_seen": seen}


def presence_of(now: float, newest_active: float | None, last_left: float | None) -> Presence:
    """Presence from a user's newest active socket's time and the last time a socket left."""
    online = newest_active is not None and newest_active >= now - ONLINE_WINDOW
    times = [t for t in (newest_active, last_left) if t is not None]
    return Presence(online=online, last_seen=max(times) if times else None)


class _MemoryStore:
    def __init__(self) -> None:
        self.active: dict[int, dict[str, float]] = {}
        self.left: dict[int, float] = {}

    async def touch(self, user_id: int, socket: str, now: float) -> None:
        self.active.setdefault(user_id, {})[socket] = now

    async def leave(self, user_id: int, socket: str) -> float | None:
        sockets = self.active.get(user_id, {})
        seen = sockets.pop(socket, None)
        if not sockets:
            self.active.pop(user_id, None)
        if seen is not None:
            self.left[user_id] = max(seen, self.left.get(user_id, 0.0))
        return seen

    async def lookup(
        self, user_ids: list[int], now: float, touch: tuple[int, str] | None = None
    ) -> dict[int, Presence]:
        if touch is not None:
            await self.touch(*touch, now)
        return {
            user_id: presence_of(
                now,
                max(self.active.get(user_id, {}).values(), default=None),
                self.left.get(user_id),
            )
            for user_id in user_ids
        }

    async def keepalive_round(
        self,
        touches: list[tuple[int, str]],
        user_ids: list[int],
        now: float,
        keys: list[str],
        keep_for: int,
    ) -> tuple[dict[int, Presence], list[None]]:
        for user_id, socket in touches:
            await self.touch(user_id, socket, now)
        return await self.lookup(user_ids, now), [None] * len(keys)  # no Redis, no keys

    async def forget(self, user_id: int) -> None:
        self.active.pop(user_id, None)
        self.left.pop(user_id, None)


# Remove socket ARGV[1] from KEYS[1]; if it had a time, keep the later of it
# and KEYS[2] in KEYS[2] for ARGV[2] seconds. Returns the socket's time.
_LEAVE = """
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if seen then
  local before = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tonumber(seen) > before then
    redis.call('SET', KEYS[2], seen, 'EX', ARGV[2])
  end
end
return seen
"""


# A keepalive round (_RedisStore.keepalive_round). KEYS: the site's keys to
# read (ARGV[3] of them), the touched users' active keys (ARGV[4]), then an
# active and a left key per looked-up user. ARGV: now, the TTL of a touched
# entry, the two counts, how long a read key found then lives (0: as it
# was), then per touched user its number of sockets and their names.
# Returns the read keys' values, then per looked-up user its newest active
# time and its last left time (false for none).
_ROUND = """
local now, keep, heads, touched = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local read_keep = tonumber(ARGV[5])
local answers = {}
for index = 1, heads do
  local value = redis.call('GET', KEYS[index])
  if value and read_keep > 0 then
    redis.call('EXPIRE', KEYS[index], read_keep)
  end
  answers[index] = value
end
local arg = 6
for index = heads + 1, heads + touched do
  local count = tonumber(ARGV[arg])
  for offset = 1, count do
    redis.call('ZADD', KEYS[index], now, ARGV[arg + offset])
  end
  redis.call('EXPIRE', KEYS[index], keep)
  arg = arg + count + 1
end
for index = heads + touched + 1, #KEYS, 2 do
  local newest = redis.call('ZREVRANGE', KEYS[index], 0, 0, 'WITHSCORES')
  answers[#answers + 1] = newest[2] or false
  answers[#answers + 1] = redis.call('GET', KEYS[index + 1])
end
return answers
"""


def _active_key(user_id: int) -> str:
    return redis_key(f"pm:presence:{user_id}")


def _left_key(user_id: int) -> str:
    return redis_key(f"pm:seen:{user_id}")


class _RedisStore:
    """Presence in Redis, shared by every process; one per event loop."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._leave = self.client.register_script(_LEAVE)
        self._round = self.client.register_script(_ROUND)

    async def touch(self, user_id: int, socket: str, now: float) -> None:
        key = _active_key(user_id)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {socket: now})
            pipe.expire(key, KEEP_FOR)
            await pipe.execute()

    async def leave(self, user_id: int, socket: str) -> float | None:
        seen = await self._leave(
            keys=[_active_key(user_id), _left_key(user_id)], args=[socket, KEEP_FOR]
        )
        return float(seen) if seen is not None else None

    async def lookup(
        self, user_ids: list[int], now: float, touch: tuple[int, str] | None = None
    ) -> dict[int, Presence]:
        return (await self.keepalive_round([touch] if touch else [], user_ids, now, [], 0))[0]

    async def keepalive_round(
        self,
        touches: list[tuple[int, str]],
        user_ids: list[int],
        now: float,
        keys: list[str],
        keep_for: int,
    ) -> tuple[dict[int, Presence], list[bytes | None]]:
        # One command (_ROUND): a pipeline of a command per key costs the
        # client more than Redis, and a round has hundreds of them.
        sockets: dict[int, list[str]] = {}
        for user_id, socket in touches:
            sockets.setdefault(user_id, []).append(socket)
        if not (keys or sockets or user_ids):
            return {}, []
        script_keys = [*keys, *map(_active_key, sockets)]
        args: list[str | int | float] = [now, KEEP_FOR, len(keys), len(sockets), keep_for]
        for names in sockets.values():
            args.append(len(names))
            args.extend(names)
        for user_id in user_ids:
            script_keys.append(_active_key(user_id))
            script_keys.append(_left_key(user_id))
        answers = await self._round(keys=script_keys, args=args)
        found = {}
        for index, user_id in enumerate(user_ids):
            newest, left = answers[len(keys) + 2 * index : len(keys) + 2 * index + 2]
            found[user_id] = presence_of(
                now, float(newest) if newest else None, float(left) if left else None
            )
        return found, answers[: len(keys)]

    async def forget(self, user_id: int) -> None:
        await self.client.delete(_active_key(user_id), _left_key(user_id))


class PresenceTracker:
    """Presence as the consumers use it; never raises for a store failure."""

    def __init__(self, store: _MemoryStore | _RedisStore, limits: UserLimits) -> None:
        self.store = store
        self.limits = limits
        self._persisted: dict[int, float] = {}

    async def touch(self, user_id: int, socket: str) -> None:
        """Socket *socket* of *user_id* is active now (connected visible, or a heartbeat)."""
        await self._ask(self.store.touch, user_id, socket, time.time(), unavailable=None)

    async def leave(self, user_id: int, socket: str) -> float | None:
        """Socket *socket* closed or went hidden; return its last active time."""
        return await self._ask(self.store.leave, user_id, socket, unavailable=None)

    async def lookup(
        self, user_ids: list[int], *, touch: tuple[int, str] | None = None
    ) -> dict[int, Presence]:
        """
        Return the presence of each of *user_ids* (empty when the store is
        down); with *touch* (user id, socket), that socket is active now too,
        in the same round trip (a heartbeat that asks for presence).
        """
        if not user_ids:
            if touch is not None:
                await self.touch(*touch)
            return {}
        return await self._ask(self.store.lookup, user_ids, time.time(), touch, unavailable={})

    async def keepalive_round(
        self,
        touches: list[tuple[int, str]],
        user_ids: list[int],
        keys: list[str],
        keep_for: int,
    ) -> tuple[dict[int, Presence], list[bytes | None]] | None:
        """
        A keepalive round's presence work in one round trip: refresh *touches*
        (user id, socket), read the presence of *user_ids*, and the values of
        the site's Redis *keys* (threads' heads; None each without Redis),
        each found then kept *keep_for* seconds more. None when the store
        did not answer.
        """
        return await self._ask(
            self.store.keepalive_round,
            touches,
            user_ids,
            time.time(),
            keys,
            keep_for,
            unavailable=None,
        )

    async def lookup_and_get(
        self, user_ids: list[int], *, touch: tuple[int, str] | None, key: str, keep_for: int
    ) -> tuple[dict[int, Presence], bytes | None]:
        """
        lookup, with the value of the site's Redis key *key* read (and kept
        *keep_for* seconds more) in the same round trip (a keepalive's thread
        head); None for it without Redis. When the store is down: ({}, None).
        """
        answer = await self.keepalive_round([touch] if touch else [], user_ids, [key], keep_for)
        return ({}, None) if answer is None else (answer[0], answer[1][0])

    async def forget(self, user_id: int) -> None:
        """Drop what is known of *user_id* (they chose to hide their presence)."""
        await self._ask(self.store.forget, user_id, unavailable=None)

    def should_persist(self, user_id: int) -> bool:
        """Whether a closing socket of *user_id* writes last_seen (once a minute at most)."""
        now = time.monotonic()
        if now - self._persisted.get(user_id, -PERSIST_EVERY) < PERSIST_EVERY:
            return False
        if len(self._persisted) > 100_000:
            self._persisted.clear()
        self._persisted[user_id] = now
        return True

    async def _ask(self, call, *args, unavailable):
        # The per-user limits' fail-open asking: they share the connection, so
        # when it is down for one it is down for both, and it is asked once.
        return await self.limits.ask(
            call, *args, unavailable=unavailable, failure="Could not reach the presence store"
        )


def forget_user(user_id: int) -> None:
    """Drop what the store knows of *user_id*, from synchronous code (a settings change)."""
    client = get_redis()
    try:
        if client is None:
            _memory_store.active.pop(user_id, None)
            _memory_store.left.pop(user_id, None)
        else:
            client.delete(_active_key(user_id), _left_key(user_id))
    except (redis.RedisError, OSError):
        logger.warning("Could not forget the presence of user %s", user_id, exc_info=True)


def last_seen_persist(*, user_id: int, seen: float) -> None:
    """Write *user_id*'s last_seen (from a database thread), unless a later one is there."""
    moment = datetime.fromtimestamp(seen, tz=UTC)
    updated = (
        ChatProfile.objects.filter(user_id=user_id)
        .filter(Q(last_seen__isnull=True) | Q(last_seen__lt=moment))
        .update(last_seen=moment)
    )
    if not updated:
        ChatProfile.objects.get_or_create(user_id=user_id, defaults={"last_seen": moment})


def persisted_presence(last_seen: datetime | None) -> Presence | None:
    """What the database knows: a last-seen time, never "online"."""
    if last_seen is None:
        return None
    return Presence(online=False, last_seen=last_seen.timestamp())


def merge(live: Presence | None, stored: Presence | None) -> Presence | None:
    """The store's presence, with the persisted last_seen when the store has none newer."""
    if live is None or live.last_seen is None:
        return stored if live is None or not live.online else live
    if stored is not None and stored.last_seen and stored.last_seen > live.last_seen:
        return Presence(online=live.online, last_seen=stored.last_seen)
    return live


_memory_store = _MemoryStore()


def _make_tracker() -> PresenceTracker:
    # The per-user limits' connection to Redis (one per event loop): the
    # calls are short, and a socket makes few of them.
    limits = get_user_limits()
    client = limits.redis_client()
    return PresenceTracker(_RedisStore(client) if client is not None else _memory_store, limits)


# The running event loop's PresenceTracker.
get_presence = per_loop(_make_tracker)
