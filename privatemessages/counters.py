"""
Message counters per thread: the total, and how many each participant sent.

With Redis they live in the hash ``thread_<id>_messages`` (fields
``total_messages`` and ``from_<user_id>``, as the 2012 original kept them) plus a
``last_id`` field: the id of the newest message counted. A reader compares
``last_id`` with the newest id in the database and rebuilds the hash from the
database whenever they differ, so the counters heal after a flush, a lost
increment or a race between a rebuild and an increment. Without Redis they are
computed from the database.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from django.db.models import Count, Max

from myproject.redis import get_redis, redis_key

from .models import Message

logger = logging.getLogger(__name__)

# Increment only a hash that exists and has not counted this message yet; a
# missing hash is rebuilt from the database by the next reader.
_RECORD_MESSAGE = """
if redis.call('EXISTS', KEYS[1]) == 1
   and tonumber(redis.call('HGET', KEYS[1], 'last_id') or '0') < tonumber(ARGV[1]) then
  redis.call('HINCRBY', KEYS[1], 'total_messages', 1)
  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
  redis.call('HSET', KEYS[1], 'last_id', ARGV[1])
  return tonumber(redis.call('HGET', KEYS[1], 'total_messages'))
end
return -1
"""


@dataclass(frozen=True)
class ThreadCounts:
    total: int = 0
    sent_by_user: dict[int, int] = field(default_factory=dict)
    last_id: int = 0

    def sent_by(self, user_id: int) -> int:
        return self.sent_by_user.get(user_id, 0)

    def received_by(self, user_id: int) -> int:
        return self.total - self.sent_by(user_id)


def counters_key(thread_id: int) -> str:
    return redis_key(f"thread_{thread_id}_messages")


def record_message(message: Message) -> int | None:
    """
    Count a committed message in Redis; return the thread's new total, or None
    when it is not known without a rebuild (no Redis, no hash yet, an error).
    """
    client = get_redis()
    if client is None:
        return None
    try:
        total = client.eval(
            _RECORD_MESSAGE,
            1,
            counters_key(message.thread_id),
            message.pk,
            f"from_{message.sender_id}",
        )
    except redis.RedisError:
        # The next reader sees a stale last_id and rebuilds from the database.
        logger.warning("Could not count message %s in Redis", message.pk, exc_info=True)
        return None
    return total if total >= 0 else None


def counts_for_threads(latest_ids: dict[int, int | None]) -> dict[int, ThreadCounts]:
    """
    Return the counts of each thread in *latest_ids* (thread id -> id of its
    newest message, or None for a thread with no messages).
    """
    result = {tid: ThreadCounts() for tid, latest in latest_ids.items() if not latest}
    wanted = {tid: latest for tid, latest in latest_ids.items() if latest}
    if not wanted:
        return result
    client = get_redis()
    if client is None:
        result.update(_counts_from_database(wanted))
        return result
    try:
        cached = _counts_from_redis(client, wanted)
    except redis.RedisError:
        logger.warning("Redis unavailable; counting messages in the database", exc_info=True)
        result.update(_counts_from_database(wanted))
        return result
    result.update(cached)
    stale = [tid for tid in wanted if tid not in cached]
    if stale:
        rebuilt = _counts_from_database(stale)
        result.update(rebuilt)
        _store_in_redis(client, rebuilt)
    return result


def _counts_from_redis(client: redis.Redis, wanted: dict[int, int]) -> dict[int, ThreadCounts]:
    pipe = client.pipeline(transaction=False)
    for thread_id in wanted:
        pipe.hgetall(counters_key(thread_id))
    fresh = {}
    for (thread_id, latest), data in zip(wanted.items(), pipe.execute(), strict=True):
        if data.get("last_id") != str(latest):
            continue
        fresh[thread_id] = ThreadCounts(
            total=int(data.get("total_messages", 0)),
            sent_by_user={
                int(name.removeprefix("from_")): int(value)
                for name, value in data.items()
                if name.startswith("from_")
            },
            last_id=latest,
        )
    return fresh


def _counts_from_database(thread_ids: Iterable[int]) -> dict[int, ThreadCounts]:
    rows = (
        Message.objects.filter(thread_id__in=list(thread_ids))
        .values("thread_id", "sender_id")
        .annotate(sent=Count("id"), last_id=Max("id"))
        .order_by()
    )
    totals: dict[int, int] = {}
    by_sender: dict[int, dict[int, int]] = {}
    last_ids: dict[int, int] = {}
    for row in rows:
        tid = row["thread_id"]
        totals[tid] = totals.get(tid, 0) + row["sent"]
        by_sender.setdefault(tid, {})[row["sender_id"]] = row["sent"]
        last_ids[tid] = max(last_ids.get(tid, 0), row["last_id"])
    return {
        tid: ThreadCounts(total=totals[tid], sent_by_user=by_sender[tid], last_id=last_ids[tid])
        for tid in totals
    }


def _store_in_redis(client: redis.Redis, counts: dict[int, ThreadCounts]) -> None:
    try:
        pipe = client.pipeline(transaction=True)
        for thread_id, thread_counts in counts.items():
            key = counters_key(thread_id)
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "total_messages": thread_counts.total,
                    "last_id": thread_counts.last_id,
                    **{f"from_{uid}": n for uid, n in thread_counts.sent_by_user.items()},
                },
            )
        pipe.execute()
    except redis.RedisError:
        logger.warning("Could not store rebuilt counters in Redis", exc_info=True)


def forget(thread_ids: Iterable[int]) -> None:
    """
    Drop the cached counters of *thread_ids*, to be rebuilt by the next reader.
    Call it after deleting messages: a deleted message that was not the newest
    leaves ``last_id`` unchanged, so the cache would not notice on its own.
    """
    client = get_redis()
    keys = [counters_key(thread_id) for thread_id in set(thread_ids)]
    if client is None or not keys:
        return
    try:
        client.delete(*keys)
    except redis.RedisError:
        logger.warning("Could not drop cached counters of threads %s", keys, exc_info=True)
