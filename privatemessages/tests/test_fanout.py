"""
The per-process fan-out (privatemessages/fanout.py): one layer subscription
per group per process, and the chat socket on top of it. Sending to groups is
tested in test_group_send.py.
"""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from privatemessages import consumers, events, fanout, services
from privatemessages.tests.realtime_fixtures import (
    TIMEOUT,
    drain,
    make_rt_user,
    open_chat,
    receive,
    receive_until,
    session_cookie,
)


class Recorder:
    """A subscriber that records what it is given."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.arrived = asyncio.Event()

    def deliver(self, event: dict) -> None:
        self.events.append(event)
        self.arrived.set()

    async def next_event(self) -> dict:
        await asyncio.wait_for(self.arrived.wait(), TIMEOUT)
        self.arrived.clear()
        return self.events[-1]


def group_name() -> str:
    return f"test.fanout.{threading.get_ident()}.{id(object())}"


# Fanout


async def test_sockets_of_a_group_share_one_subscription():
    """Two local sockets of one group get every event from one layer channel."""
    hub = fanout.Fanout(get_channel_layer())
    group = group_name()
    first, second = Recorder(), Recorder()
    await hub.join(group, first)
    await hub.join(group, second)
    assert hub.subscribers(group) == 2

    await hub.layer.group_send(group, {"type": "test.event", "n": 1})
    assert (await first.next_event())["n"] == 1
    assert (await second.next_event())["n"] == 1
    # One reader per group, whatever the number of sockets.
    assert len(hub._groups) == 1

    await hub.leave(group, first)
    await hub.layer.group_send(group, {"type": "test.event", "n": 2})
    assert (await second.next_event())["n"] == 2
    assert [e["n"] for e in first.events] == [1]

    await hub.leave(group, second)
    assert hub.subscribers(group) == 0
    assert group not in hub._groups


async def test_a_group_left_and_joined_again_still_delivers():
    """Joining right after the last socket left waits for the unsubscribe, then works."""
    hub = fanout.Fanout(get_channel_layer())
    group = group_name()
    first, second = Recorder(), Recorder()
    await hub.join(group, first)
    leaving = asyncio.ensure_future(hub.leave(group, first))
    await hub.join(group, second)
    await leaving
    await hub.layer.group_send(group, {"type": "test.event", "n": 1})
    assert (await second.next_event())["n"] == 1
    await hub.leave(group, second)


async def test_a_failing_subscriber_does_not_stop_the_others():
    class Broken:
        def deliver(self, event: dict) -> None:
            raise RuntimeError("broken socket")

    hub = fanout.Fanout(get_channel_layer())
    group = group_name()
    broken, fine = Broken(), Recorder()
    await hub.join(group, broken)
    await hub.join(group, fine)
    await hub.layer.group_send(group, {"type": "test.event", "n": 1})
    assert (await fine.next_event())["n"] == 1
    await hub.leave(group, broken)
    await hub.leave(group, fine)


# The chat socket on top of it

pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
async def test_a_live_message_during_a_replay_goes_out_after_it(monkeypatch):
    """A live event that arrives while the socket replays waits, then goes out once."""
    anna, boris = await database_sync_to_async(lambda: (make_rt_user(), make_rt_user()))()
    first = await database_sync_to_async(services.message_send_to_username)(
        sender=anna, recipient_username=boris.username, text="первое"
    )
    cookie = await database_sync_to_async(session_cookie)(anna)
    replay_read = threading.Event()
    release = threading.Event()
    stored_after = consumers.ChatConsumer._stored_after

    def slow_stored_after(self, after):
        # Read, then hold the answer until a live message was announced.
        result = stored_after(self, after)
        replay_read.set()
        release.wait(TIMEOUT)
        return result

    monkeypatch.setattr(consumers.ChatConsumer, "_stored_after", slow_stored_after)
    comm, _ = await open_chat(first.thread_id, cookie, after=None)
    await comm.send_json_to({"type": "sync", "after": 0})
    await asyncio.to_thread(replay_read.wait, TIMEOUT)
    live = await database_sync_to_async(services.message_create)(
        sender=boris, thread=first.thread, text="вживую"
    )
    release.set()

    frames = await receive_until(comm, "synced")
    assert [f.get("id") for f in frames] == [first.pk, None]
    assert (await receive(comm))["id"] == live.pk
    assert await drain(comm, 0.3) == []
    await comm.disconnect()


@pytestmark_db
async def test_sockets_leave_their_groups_when_they_close():
    anna, boris = await database_sync_to_async(lambda: (make_rt_user(), make_rt_user()))()
    first = await database_sync_to_async(services.message_send_to_username)(
        sender=anna, recipient_username=boris.username, text="первое"
    )
    cookie = await database_sync_to_async(session_cookie)(anna)
    group = events.thread_group(first.thread_id)
    one, _ = await open_chat(first.thread_id, cookie)
    two, _ = await open_chat(first.thread_id, cookie)
    hub = fanout.get_fanout()
    assert hub.subscribers(group) == 2
    await one.disconnect()
    assert hub.subscribers(group) == 1
    await two.disconnect()
    assert hub.subscribers(group) == 0
