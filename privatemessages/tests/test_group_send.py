"""
Sending to channel-layer groups from synchronous code (privatemessages/group_send.py),
and the guard on what it copies from channels_redis: the group's Redis channel
name and the encoding. If an upgrade of channels_redis changes either, these fail.
"""

import asyncio
import threading

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from privatemessages import group_send
from privatemessages.tests.realtime_fixtures import TIMEOUT, needs_real_services


def group_name() -> str:
    return f"test.group_send.{threading.get_ident()}.{id(object())}"


@needs_real_services("Redis")
async def test_group_send_many_reaches_a_layer_subscriber_in_order():
    """
    What the database thread publishes itself arrives on a channel subscribed
    through the layer's own API: the names and encoding match the layer's.
    """
    layer = get_channel_layer()
    assert group_send._pubsub_publisher(layer) is not None
    group = group_name()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    sends = [(group, {"type": "test.event", "n": n, "text": "привет"}) for n in range(3)]
    await database_sync_to_async(group_send.group_send_many)(sends)
    got = [await asyncio.wait_for(layer.receive(channel), TIMEOUT) for _ in range(3)]
    assert got == [event for _, event in sends]
    await layer.group_discard(group, channel)


@needs_real_services("Redis")
async def test_the_layers_own_group_send_arrives_on_the_channel_the_publisher_names():
    """
    The reverse: an event the layer sends to a group is published on the Redis
    channel that group_send names for it, and the layer's decoding of it gives
    the event back.
    """
    layer = get_channel_layer()
    publisher = group_send._pubsub_publisher(layer)
    assert publisher is not None
    group = group_name()
    subscription = publisher.client.pubsub(ignore_subscribe_messages=True)
    await asyncio.to_thread(subscription.subscribe, publisher.channel_name(group))
    try:
        event = {"type": "test.event", "n": 1, "text": "привет"}
        await layer.group_send(group, event)
        got = None
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while got is None and asyncio.get_running_loop().time() < deadline:
            got = await asyncio.to_thread(subscription.get_message, timeout=0.5)
        assert got is not None, "the layer published the group's event on another channel"
        assert layer.deserialize(got["data"]) == event
    finally:
        await asyncio.to_thread(subscription.close)
