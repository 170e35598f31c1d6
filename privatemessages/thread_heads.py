"""
The newest message id of each thread, in Redis, so that the keepalive sync of
a tab with nothing new costs no database query (docs/protocol.md).

Written after each message's commit, beside its broadcast, and after every
sync that read the database; only ever raised (a Lua "set if greater"), and
kept for HEAD_TTL seconds after its last write. A sync compares it with what
the socket has delivered: equal, nothing is missing; greater (a live event
was lost), the database is read as always; missing (Redis restarted, or the
thread was quiet for HEAD_TTL) or unreachable, the database is read too and
the head written again. A head never runs ahead of the database, so no tab
ever waits for a message that is not there; it can lag only if Redis failed
while a message was announced, and then at most until it expires.

Without REDIS_URL there are no heads: every sync reads the database (one
process, the development server).
"""

import logging

import redis
import redis.asyncio as aioredis

from myproject.redis import get_redis, redis_key

logger = logging.getLogger(__name__)

# Seconds a head lives after its last write.
HEAD_TTL = 600

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
