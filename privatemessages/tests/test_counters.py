"""
The counters: "total" and "sent by user X" per thread. They must equal the
database's counts, with Redis and without it, and after the Redis data is lost.
"""

import pytest
import redis
from django.conf import settings
from django.db.models import Count

from myproject.redis import get_redis
from privatemessages import counters, selectors
from privatemessages.models import Message

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


def database_counts(thread) -> tuple[int, dict[int, int]]:
    rows = Message.objects.filter(thread=thread).values("sender_id").annotate(n=Count("id"))
    by_sender = {row["sender_id"]: row["n"] for row in rows}
    return sum(by_sender.values()), by_sender


def assert_counts_match_database(user, thread):
    total, by_sender = database_counts(thread)
    chat = selectors.chat_for_participant(thread_id=thread.pk, user=user)
    assert chat.total == total
    assert chat.sent == by_sender.get(user.pk, 0)
    assert chat.received == total - by_sender.get(user.pk, 0)
    [summary] = [s for s in selectors.thread_list_for_user(user=user) if s.pk == thread.pk]
    assert summary.total == total


def flush_counters() -> int:
    """Delete this test run's counter hashes, as a Redis restart without persistence would."""
    client = get_redis()
    keys = list(client.scan_iter(match=counters.counters_key(0).replace("0", "*"), count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


@pytest.fixture
def conversation(anna, boris, thread, send):
    for i in range(7):
        send(anna if i % 3 else boris, thread, f"#{i}")
    return thread


def test_counts_equal_the_database(anna, boris, conversation):
    assert_counts_match_database(anna, conversation)
    assert_counts_match_database(boris, conversation)
    assert selectors.chat_for_participant(thread_id=conversation.pk, user=anna).sent == 4


def test_counts_of_several_threads_at_once(anna, boris, carol, thread, send):
    from privatemessages.services import thread_get_or_create_for_pair

    other = thread_get_or_create_for_pair(user=carol, other=anna)
    send(anna, thread, "1")
    send(carol, other, "2")
    send(carol, other, "3")
    latest = {
        thread.pk: Message.objects.filter(thread=thread).latest("id").pk,
        other.pk: Message.objects.filter(thread=other).latest("id").pk,
    }
    counts = counters.counts_for_threads(latest)
    assert counts[thread.pk].total == 1
    assert counts[other.pk].total == 2
    assert counts[other.pk].sent_by(carol.pk) == 2
    assert counts[other.pk].received_by(anna.pk) == 2


def test_thread_without_messages_counts_zero(anna, thread):
    assert counters.counts_for_threads({thread.pk: None})[thread.pk].total == 0
    assert_counts_match_database(anna, thread)


@needs_redis
def test_redis_hash_has_the_original_layout(anna, boris, conversation):
    selectors.chat_for_participant(thread_id=conversation.pk, user=anna)  # builds the hash
    data = get_redis().hgetall(f"{settings.REDIS_KEY_PREFIX}thread_{conversation.pk}_messages")
    total, by_sender = database_counts(conversation)
    assert int(data["total_messages"]) == total
    assert int(data[f"from_{anna.pk}"]) == by_sender[anna.pk]
    assert int(data[f"from_{boris.pk}"]) == by_sender[boris.pk]


@needs_redis
def test_new_messages_are_counted_in_redis(anna, boris, conversation, send):
    selectors.chat_for_participant(thread_id=conversation.pk, user=anna)  # builds the hash
    send(boris, conversation, "ещё одно")
    data = get_redis().hgetall(counters.counters_key(conversation.pk))
    assert int(data["total_messages"]) == 8
    assert_counts_match_database(anna, conversation)


@needs_redis
def test_counts_survive_a_redis_flush(anna, boris, conversation, send):
    assert_counts_match_database(anna, conversation)
    assert flush_counters() >= 1
    assert_counts_match_database(anna, conversation)  # rebuilt from the database
    assert get_redis().exists(counters.counters_key(conversation.pk))
    # Messages sent while the hash was gone are counted too.
    flush_counters()
    send(anna, conversation, "после сброса")
    send(boris, conversation, "и ещё")
    assert_counts_match_database(anna, conversation)
    assert_counts_match_database(boris, conversation)


@needs_redis
def test_a_lost_increment_heals(anna, boris, conversation, send, monkeypatch):
    assert_counts_match_database(anna, conversation)
    monkeypatch.setattr(counters, "record_message", lambda message: None)
    send(boris, conversation, "не посчитано в Redis")
    assert_counts_match_database(anna, conversation)


@needs_redis
def test_deleting_an_old_message_in_the_admin_path_heals(anna, conversation):
    assert_counts_match_database(anna, conversation)
    oldest = Message.objects.filter(thread=conversation).earliest("id")
    oldest.delete()
    counters.forget([conversation.pk])
    assert_counts_match_database(anna, conversation)


def test_counts_come_from_the_database_when_redis_is_down(anna, conversation, monkeypatch):
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    monkeypatch.setattr(counters, "get_redis", lambda: dead)
    assert_counts_match_database(anna, conversation)
    assert counters.record_message(Message.objects.latest("id")) is None
    counters.forget([conversation.pk])  # does not raise either


def test_counts_come_from_the_database_without_redis(anna, conversation, monkeypatch):
    monkeypatch.setattr(counters, "get_redis", lambda: None)
    assert_counts_match_database(anna, conversation)
