"""
The server's keepalive (privatemessages/keepalive.py, docs/protocol.md
"Keepalive"): each open socket visited without being asked, a slice of them in
one Redis round trip, on whatever presence store the settings give (memory
without REDIS_URL, Redis with it). The rounds are run by hand here
(conftest.keepalive_by_hand); the timer that runs them has a test of its own.
"""

import asyncio
import time

import pytest
import redis
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings

from myproject.redis import redis_key
from privatemessages import consumers, events, presence, profiles, services, thread_heads
from privatemessages.keepalive import KeepaliveRounds, get_keepalive
from privatemessages.presence import get_presence
from privatemessages.tests.realtime_fixtures import (
    TIMEOUT,
    communicator,
    count_database_syncs,
    drain,
    needs_redis,
    open_chat,
    receive,
    receive_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

acreate = database_sync_to_async(services.message_create)


def count_round_trips(monkeypatch) -> list:
    calls = []
    real = presence.PresenceTracker.keepalive_round

    async def counted(self, touches, user_ids, keys, keep_for):
        calls.append((touches, user_ids, keys))
        return await real(self, touches, user_ids, keys, keep_for)

    monkeypatch.setattr(presence.PresenceTracker, "keepalive_round", counted)
    return calls


async def tell_active(comm) -> None:
    """Send the "activity" frame, and wait until the socket has taken it."""
    await comm.send_json_to({"type": "activity", "active": True})
    await comm.send_json_to({"type": "ping"})  # answered in order, after it
    await receive_until(comm, "pong")


async def open_list(cookie: str, *, activity: bool = True):
    comm = communicator("/ws/messages/", cookie)
    assert (await comm.connect(timeout=TIMEOUT))[0]
    if activity:
        await comm.send_json_to({"type": "activity", "active": True})
    await comm.send_json_to({"type": "sync"})
    await receive_until(comm, "presence" if activity else "threads")
    return comm


async def test_a_visit_answers_a_caught_up_chat_socket_and_sends_presence_news(chat):
    anna = await open_list(chat["cookies"]["anna"])  # online
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    await tell_active(comm)
    await get_keepalive().visit_all()
    synced, shown = await receive(comm), await receive(comm)
    assert synced == {"type": "synced", "last_id": chat["first"].pk, "more": False}
    assert shown["type"] == "presence"
    assert shown["users"][str(chat["anna"].pk)]["online"] is True
    # Nothing changed: no presence frame again.
    await get_keepalive().visit_all()
    assert (await receive(comm))["type"] == "synced"
    assert await drain(comm, 0.3) == []
    # Anna leaves: the next visit says so.
    await anna.disconnect()
    await get_keepalive().visit_all()
    synced, shown = await receive(comm), await receive(comm)
    assert synced["type"] == "synced"
    gone = shown["users"][str(chat["anna"].pk)]
    assert gone["online"] is False
    assert gone["last_seen"]
    # Anna hides her presence: it is shown no more.
    await database_sync_to_async(profiles.profile_update)(
        user_id=chat["anna"].pk, show_presence=False
    )
    await get_keepalive().visit_all()
    synced, shown = await receive(comm), await receive(comm)
    assert shown == {"type": "presence", "users": {str(chat["anna"].pk): None}}
    await comm.disconnect()


@needs_redis
async def test_a_visit_that_finds_nothing_new_reads_no_database(chat, monkeypatch):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    calls = count_database_syncs(monkeypatch)
    for _ in range(3):
        await get_keepalive().visit_all()
        assert (await receive(comm))["type"] == "synced"
    assert calls == []
    await comm.disconnect()


async def test_a_lost_live_event_is_caught_by_the_next_visit(chat, monkeypatch):
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"])
    # The message's live event is lost (its group send fails); its head is noted.
    monkeypatch.setattr(events, "group_send_many", lambda sends, also=None: False)
    lost = await acreate(sender=chat["anna"], thread=thread, text="потерялось")
    assert await drain(comm, 0.3) == []
    await get_keepalive().visit_all()
    frames = await receive_until(comm, "synced")
    assert [frame.get("id") for frame in frames[:-1]] == [lost.pk]
    assert frames[-1]["last_id"] == lost.pk
    await comm.disconnect()


async def test_when_redis_does_not_answer_a_visit_says_alive_then_reads_the_database(
    chat, monkeypatch
):
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"])
    await tell_active(comm)
    monkeypatch.setattr(events, "group_send_many", lambda sends, also=None: False)
    lost = await acreate(sender=chat["anna"], thread=thread, text="потерялось")
    calls = count_database_syncs(monkeypatch)

    async def unanswered(self, touches, user_ids, keys, keep_for):
        return None

    monkeypatch.setattr(presence.PresenceTracker, "keepalive_round", unanswered)
    # Once: alive, and nothing else (no presence, no database read for a whole slice).
    await get_keepalive().visit_all()
    assert await receive(comm) == {"type": "synced", "last_id": chat["first"].pk, "more": False}
    assert await drain(comm, 0.3) == []
    assert calls == []
    # Again: Redis is down, not slow; the database is read, and the lost message comes.
    await get_keepalive().visit_all()
    frames = await receive_until(comm, "synced")
    assert [frame.get("id") for frame in frames[:-1]] == [lost.pk]
    assert len(calls) == 1
    await comm.disconnect()


async def test_a_socket_is_visited_only_after_its_first_sync(chat):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"], after=None)
    await get_keepalive().visit_all()
    assert await drain(comm, 0.3) == []  # its first sync will answer everything
    await comm.send_json_to({"type": "sync", "after": 0})
    await receive_until(comm, "synced")
    await get_keepalive().visit_all()
    assert (await receive(comm))["type"] == "synced"
    await comm.disconnect()


async def test_a_thread_list_socket_gets_a_pong_and_its_partners_presence_news(chat):
    anna = await open_list(chat["cookies"]["anna"], activity=False)  # knows no presence
    comm = await open_list(chat["cookies"]["boris"])  # sent Anna's presence: online
    await get_keepalive().visit_all()
    for socket in (comm, anna):
        assert await receive(socket) == {"type": "pong"}
        assert await drain(socket, 0.3) == []  # nothing new to say of anyone
    await anna.disconnect()
    await get_keepalive().visit_all()
    pong, shown = await receive(comm), await receive(comm)
    assert pong == {"type": "pong"}
    assert list(shown["users"]) == [str(chat["anna"].pk)]
    assert shown["users"][str(chat["anna"].pk)]["online"] is False
    await get_keepalive().visit_all()
    assert await receive(comm) == {"type": "pong"}
    assert await drain(comm, 0.3) == []
    await comm.disconnect()


async def test_a_visit_keeps_an_active_tab_online_and_not_a_hidden_one(chat):
    anna = chat["anna"].pk
    visible, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"])
    tracker = get_presence()
    [socket] = get_keepalive().slices[0]
    # Anna's entry as if refreshed an hour ago: offline.
    long_ago = time.time() - 3600
    await tracker.store.touch(anna, socket.socket_slot.name, long_ago)
    assert not (await tracker.lookup([anna]))[anna].online

    await get_keepalive().visit_all()
    assert (await tracker.lookup([anna]))[anna].online
    await receive_until(visible, "synced")

    await tracker.store.touch(anna, socket.socket_slot.name, long_ago)
    await visible.send_json_to({"type": "activity", "active": False})
    await visible.send_json_to({"type": "ping"})  # answered after the activity frame
    await receive_until(visible, "pong")
    await get_keepalive().visit_all()
    assert not (await tracker.lookup([anna]))[anna].online
    await visible.disconnect()


@needs_redis
async def test_one_round_trip_serves_every_socket_of_a_round(chat, monkeypatch):
    anna_chat, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"])
    boris_chat, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    for comm in (anna_chat, boris_chat):
        await tell_active(comm)
    boris_list = await open_list(chat["cookies"]["boris"])
    calls = count_round_trips(monkeypatch)
    await get_keepalive().visit_all()
    assert len(calls) == 1
    touches, user_ids, keys = calls[0]
    assert len(touches) == 3
    assert sorted(user_ids) == sorted({chat["anna"].pk, chat["boris"].pk})
    # The thread's head, once for both of its tabs.
    assert keys == [thread_heads.head_key(chat["thread"].pk)]
    for comm in (anna_chat, boris_chat):
        frames = await receive_until(comm, "presence")
        assert [frame["type"] for frame in frames] == ["synced", "presence"]
    assert await receive(boris_list) == {"type": "pong"}  # its presence frame said it all
    for comm in (anna_chat, boris_chat, boris_list):
        await comm.disconnect()


async def test_a_closed_socket_leaves_the_rounds(chat):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    assert sum(len(part) for part in get_keepalive().slices) == 1
    await comm.disconnect()
    assert sum(len(part) for part in get_keepalive().slices) == 0


async def test_a_failing_socket_does_not_stop_the_round(chat, monkeypatch):
    first, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"])
    second, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    real = consumers.ChatConsumer.keepalive
    failed = []

    def fails_for_anna(self, live, value, reached):
        if self.user_id == chat["anna"].pk:
            failed.append(self)
            raise RuntimeError("a bug in one socket's answer")
        real(self, live, value, reached)

    monkeypatch.setattr(consumers.ChatConsumer, "keepalive", fails_for_anna)
    await get_keepalive().visit_all()
    assert len(failed) == 1
    assert (await receive(second))["type"] == "synced"
    for comm in (first, second):
        await comm.disconnect()


class FakeSocket:
    keepalive_slice = None

    def __init__(self) -> None:
        self.visits = asyncio.Queue()

    def keepalive_needs(self):
        return None, [], None

    def keepalive(self, live, value, reached) -> None:
        self.visits.put_nowait(value)


async def test_the_rounds_visit_on_their_own_and_stop_when_nobody_is_left():
    rounds = KeepaliveRounds(0.05)
    sockets = [FakeSocket(), FakeSocket()]
    for socket in sockets:
        rounds.join(socket)
    assert rounds.task is not None
    for socket in sockets:
        for _ in range(2):  # visited again and again
            assert await asyncio.wait_for(socket.visits.get(), TIMEOUT) is None
    task = rounds.task
    for socket in sockets:
        rounds.leave(socket)
    await asyncio.wait_for(task, TIMEOUT)  # nothing left to visit: the task ends
    assert rounds.task is None
    rounds.join(sockets[0])  # and starts again with the next socket
    assert await asyncio.wait_for(sockets[0].visits.get(), TIMEOUT) is None
    rounds.leave(sockets[0])
    await asyncio.wait_for(rounds.task, TIMEOUT)


async def test_a_new_socket_waits_a_whole_period_for_its_first_visit():
    rounds = KeepaliveRounds(25)
    rounds.last = 7  # the slice visited last
    socket = FakeSocket()
    rounds.join(socket)
    assert socket.keepalive_slice == 7  # its next visit is 25 slices away
    rounds.leave(socket)
    await asyncio.wait_for(rounds.task, TIMEOUT)


@needs_redis
async def test_a_redis_round_refreshes_reads_and_answers_in_order():
    """The store's round script, key by key: touches, presence, the site's keys."""
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    store = presence._RedisStore(client)
    base = 9_000_000 + int(time.time() * 1000) % 1_000_000  # users no other test has
    many, left_only, unknown = base, base + 1, base + 2
    head = redis_key(f"pm:test:round:{base}")
    await client.set(head, b"41", ex=60)
    await client.set(presence._left_key(left_only), "1000.5", ex=60)
    now = time.time()
    try:
        found, values = await store.keepalive_round(
            [(many, "tab-1"), (many, "tab-2")],
            [left_only, many, unknown],
            now,
            [head, redis_key(f"pm:test:round:{base}:missing")],
            600,
        )
        assert values == [b"41", None]
        assert 60 < await client.ttl(head) <= 600  # a key found lives on
        assert found[many].online
        assert found[many].last_seen == pytest.approx(now)
        assert found[left_only] == presence.Presence(online=False, last_seen=1000.5)
        assert found[unknown] == presence.Presence(online=False, last_seen=None)
        active = presence._active_key(many)
        assert await client.zrange(active, 0, -1) == [b"tab-1", b"tab-2"]
        assert await client.ttl(active) > presence.KEEP_FOR - 60
        # Nothing to ask: no round trip at all.
        assert await store.keepalive_round([], [], now, [], 600) == ({}, [])
    finally:
        await client.delete(head, presence._left_key(left_only), presence._active_key(many))


@needs_redis
async def test_an_open_tab_keeps_its_threads_head(chat, monkeypatch):
    """A quiet thread's head lives while a tab visits it: no database read when it would
    have expired."""
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"])
    client = get_presence().store.client
    key = thread_heads.head_key(thread.pk)
    await client.expire(key, 5)  # about to expire
    calls = count_database_syncs(monkeypatch)
    await get_keepalive().visit_all()
    await receive_until(comm, "synced")
    assert await client.ttl(key) > thread_heads.HEAD_TTL - 60
    assert calls == []
    await comm.disconnect()


@needs_redis
async def test_a_head_that_did_not_reach_redis_is_written_by_the_keepalive(chat, monkeypatch):
    """Redis failed as a message was announced: the head the keepalive keeps alive would
    hide the lost message, so its process writes it again once Redis answers."""
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"])
    monkeypatch.setattr(events, "group_send_many", lambda sends, also=None: False)
    real_eval = redis.Redis.eval

    def unreachable(self, *args):
        raise redis.ConnectionError("Redis is away")

    monkeypatch.setattr(redis.Redis, "eval", unreachable)
    lost = await acreate(sender=chat["anna"], thread=thread, text="потерялось")
    monkeypatch.setattr(redis.Redis, "eval", real_eval)
    assert thread_heads.has_unwritten()
    calls = count_database_syncs(monkeypatch)
    await get_keepalive().visit_all()  # the head is behind: nothing seems missing
    assert await receive(comm) == {"type": "synced", "last_id": chat["first"].pk, "more": False}

    await thread_heads.raise_unwritten(get_presence().store.client)
    assert not thread_heads.has_unwritten()
    await get_keepalive().visit_all()
    frames = await receive_until(comm, "synced")
    assert [frame.get("id") for frame in frames[:-1]] == [lost.pk]
    assert len(calls) == 1
    await comm.disconnect()


@needs_redis
async def test_unwritten_heads_wait_while_redis_is_away(monkeypatch):
    thread_id = 9_000_000 + int(time.time() * 1000) % 1_000_000
    thread_heads._keep_unwritten({thread_id: 7})
    thread_heads._keep_unwritten({thread_id: 5})  # only ever raised
    away = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    await thread_heads.raise_unwritten(away)
    assert thread_heads._unwritten == {thread_id: 7}
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await thread_heads.raise_unwritten(client)
        assert thread_heads._unwritten == {}
        assert await client.get(thread_heads.head_key(thread_id)) == b"7"
    finally:
        await client.delete(thread_heads.head_key(thread_id))
        await client.aclose()
        await away.aclose()
