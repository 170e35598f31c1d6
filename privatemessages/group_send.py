"""
Sending events to channel-layer groups, from synchronous code (the database
thread that commits a message, a view) and from the event loop (a message
saved there); the receiving side is fanout.py.
"""

import weakref
from collections.abc import Callable

import redis
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from redis.client import Pipeline

from .per_loop import per_loop

# More commands for a publish's round trip, queued in its pipeline; what it
# returns, if anything, is called with the round trip's results.
AlsoInPublish = Callable[[Pipeline], Callable[[list], None] | None]


def group_send_many(sends: list[tuple[str, dict]], *, also: AlsoInPublish | None = None) -> bool:
    """
    Send each event to its group, in order, from synchronous code.

    On the Redis pub/sub layer this is one pipelined round trip from the
    calling thread, in the layer's own channel names and encoding. Through
    the layer's API it would be a hop to the event loop and one PUBLISH after
    another there (the layer sends one at a time per process, under a lock),
    and the event loop is what delivers to the sockets.
    """
    layer = get_channel_layer()
    if layer is None or not sends:
        return False
    publisher = _pubsub_publisher(layer)
    if publisher is not None:
        return publisher.publish(sends, also=also)
    async_to_sync(_group_send_all)(layer, sends)
    return False


async def group_send_many_on_loop(
    sends: list[tuple[str, dict]], *, also: AlsoInPublish | None = None
) -> bool:
    """group_send_many from the event loop: the same round trip, or the layer's own sends."""
    layer = get_channel_layer()
    if layer is None or not sends:
        return False
    publisher = _pubsub_publisher(layer)
    if publisher is not None:
        return await publisher.publish_on_loop(sends, also=also)
    await _group_send_all(layer, sends)
    return False


async def _group_send_all(layer: BaseChannelLayer, sends: list[tuple[str, dict]]) -> None:
    for group, event in sends:
        await layer.group_send(group, event)


# What channels_redis keeps private and this module copies, all of it here:
# the Redis channel that a RedisPubSubChannelLayer group is published on
# (RedisPubSubLoopLayer._get_group_channel_name, channels-redis 4.3), and the
# shard it lives on, which is the only one when the layer has one host
# (_pubsub_publisher leaves several hosts to the layer). The encoding is the
# layer's public ``serialize``. test_group_send.py publishes with each side
# and receives with the other, so an upgrade that changes them fails there.
def pubsub_group_channel(prefix: str, group: str) -> str:
    """Return the Redis channel the pub/sub layer with *prefix* uses for *group*."""
    return f"{prefix}__group__{group}"


class PubSubPublisher:
    """PUBLISH to the groups of a RedisPubSubChannelLayer as its group_send does."""

    def __init__(self, layer: RedisPubSubChannelLayer, address: str, prefix: str) -> None:
        self.layer = layer
        self.address = address
        # Timeouts: a stuck Redis must not hold the thread that commits messages.
        self.client = redis.Redis.from_url(address, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix
        # The same from the event loop, a client per loop.
        self.loop_client = per_loop(
            lambda: aioredis.Redis.from_url(address, socket_timeout=5, socket_connect_timeout=5)
        )

    def channel_name(self, group: str) -> str:
        return pubsub_group_channel(self.prefix, group)

    def publish(self, sends: list[tuple[str, dict]], *, also: AlsoInPublish | None = None) -> bool:
        """
        Publish *sends*; return True if *also* (more commands for the site's own
        Redis, REDIS_URL) went into the same round trip, which it can when the
        layer's Redis is that one. What *also* returns gets the round trip's results.
        """
        pipe = self.client.pipeline(transaction=False)
        joined, answered = self._queue(pipe, sends, also)
        results = pipe.execute()
        if answered is not None:
            answered(results)
        return joined

    async def publish_on_loop(
        self, sends: list[tuple[str, dict]], *, also: AlsoInPublish | None = None
    ) -> bool:
        """publish from the event loop."""
        pipe = self.loop_client().pipeline(transaction=False)
        joined, answered = self._queue(pipe, sends, also)
        results = await pipe.execute()
        if answered is not None:
            answered(results)
        return joined

    def _queue(
        self, pipe, sends: list[tuple[str, dict]], also: AlsoInPublish | None
    ) -> tuple[bool, Callable[[list], None] | None]:
        for group, event in sends:
            pipe.publish(self.channel_name(group), self.layer.serialize(event))
        if also is None or self.address != settings.REDIS_URL:
            return False, None
        return True, also(pipe)


_publishers: "weakref.WeakKeyDictionary[BaseChannelLayer, PubSubPublisher | None]" = (
    weakref.WeakKeyDictionary()
)


def _pubsub_publisher(layer: BaseChannelLayer) -> PubSubPublisher | None:
    """Return the publisher of *layer* if it is the pub/sub layer on one host."""
    key = layer
    if key not in _publishers:
        _publishers[key] = None
        config = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {})
        hosts = config.get("hosts") or []
        # Several hosts shard the groups by a hash: leave that to the layer.
        if isinstance(layer, RedisPubSubChannelLayer) and len(hosts) == 1:
            host = hosts[0]
            address = host if isinstance(host, str) else host.get("address")
            if address:
                _publishers[key] = PubSubPublisher(layer, address, config.get("prefix", "asgi"))
    return _publishers[key]
