"""
The newest message id of each thread, in Redis, so that the keepalive sync of
a tab with nothing new costs no database query (docs/protocol.md).

Written after each message's commit, beside its broadcast, and after every
sync that read the database; only ever raised (a Lua "set if greater"), and
kept for HEAD_TTL seconds after its last write or keepalive read (an open
tab keeps its thread's head). A sync compares it with what the socket has
delivered: equal, nothing is missing; greater (a live event was lost), the
database is read as always; missing (Redis restarted, or nobody watched the
quiet thread for HEAD_TTL) or unreachable, the database is read too and the
head written again. A head never runs ahead of the database, so no tab ever
waits for a message that is not there. It lags while a raise that could not
reach Redis waits in its process (kept here, per thread): the process's
keepalive writes those again every second until Redis takes them. (A process
with no socket open has no keepalive running, and one that exits takes them
along: then the head lags until the thread's next message.)

Without REDIS_URL there are no heads: every sync reads the database (one
process, the development server).
"""

import asyncio
import logging
import threading

import redis
import redis.asyncio as aioredis

from myproject.redis import get_redis, redis_key

logger = logging.getLogger(__name__)

# Seconds a head lives after its last write or keepalive read.
HEAD_TTL = 600
# Seconds the keepalive waits for Redis to take the raises that failed.
UNWRITTEN_TIMEOUT = 1.0

# Set KEYS[1] to ARGV[1] unless it holds a greater number; expire it after ARGV[2] s.
# (0 is a head too: a thread with no message yet.)
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local value = tonumber(ARGV[1])
if value > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


def head_key(thread_id: int) -> str:
    return redis_key(f"pm:head:{thread_id}")


def raise_head_in(pipe: redis.client.Pipeline, thread_id: int, message_id: int) -> None:
    """Queue the raise of the thread's head in *pipe* (a message's publish round trip)."""
    pipe.eval(_RAISE, 1, head_key(thread_id), message_id, HEAD_TTL)


def raise_head(thread_id: int, message_id: int) -> None:
    """After a message's commit (sync code): the thread's newest id is at least *message_id*."""
    client = get_redis()
    if client is None:
        return
    try:
        client.eval(_RAISE, 1, head_key(thread_id), message_id, HEAD_TTL)
    except (redis.RedisError, OSError):
        logger.warning("Could not note the newest message of thread %s", thread_id)
        _keep_unwritten({thread_id: message_id})


# Raises that did not reach Redis, by thread (the greatest id), from any of
# this process's threads; written again by raise_unwritten().
_unwritten: dict[int, int] = {}
_unwritten_lock = threading.Lock()


def _keep_unwritten(raises: dict[int, int]) -> None:
    with _unwritten_lock:
        for thread_id, message_id in raises.items():
            if message_id > _unwritten.get(thread_id, -1):
                _unwritten[thread_id] = message_id


def has_unwritten() -> bool:
    """Whether a raise of this process waits for Redis."""
    return bool(_unwritten)


async def raise_unwritten(client: aioredis.Redis | None) -> None:
    """Write the raises that did not reach Redis (the keepalive's, each second)."""
    if client is None:
        return
    with _unwritten_lock:
        raises = dict(_unwritten)
        _unwritten.clear()
    try:
        # Never long: the keepalive's visits wait for it.
        async with asyncio.timeout(UNWRITTEN_TIMEOUT), client.pipeline(transaction=False) as pipe:
            for thread_id, message_id in raises.items():
                pipe.eval(_RAISE, 1, head_key(thread_id), message_id, HEAD_TTL)
            await pipe.execute()
    except (redis.RedisError, OSError, TimeoutError):
        _keep_unwritten(raises)  # Redis is still away: the next second tries again
    else:
        logger.info("Noted the newest messages of %s threads after a failure", len(raises))


async def head(client: aioredis.Redis | None, thread_id: int) -> int | None:
    """The thread's newest message id as noted, or None (unknown: read the database)."""
    if client is None:
        return None
    try:
        value = await client.get(head_key(thread_id))
    except (redis.RedisError, OSError):
        return None
    return head_value(value)


def head_value(value: bytes | str | None) -> int | None:
    """A head as Redis returns it (GET of head_key), or None if there is none."""
    return int(value) if value is not None else None


async def raise_head_async(client: aioredis.Redis | None, thread_id: int, message_id: int) -> None:
    """After a sync read the database up to *message_id*, the newest of the thread."""
    if client is None or message_id < 0:
        return
    try:
        await client.eval(_RAISE, 1, head_key(thread_id), message_id, HEAD_TTL)
    except (redis.RedisError, OSError):
        logger.warning("Could not note the newest message of thread %s", thread_id)
        _keep_unwritten({thread_id: message_id})
