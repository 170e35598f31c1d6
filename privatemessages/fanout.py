"""
The receiving side of the channel layer: one subscription per group per
process, and delivery from it to every local socket of the group. Sending to
groups is group_send.py.

Stock Channels gives every socket a channel of its own and subscribes each to
its groups, so a message to a group of N local sockets is decoded N times and
wakes N consumer tasks, each through ``asyncio.wait`` and a thread hop. Here a
group's event is received and decoded once per process and handed to each
local socket's ``deliver`` method, which runs on the spot; a socket only gets
a task of its own while something of it has to wait (see send_queue.py).
"""

import asyncio
import logging
import weakref
from typing import Protocol

from channels.layers import BaseChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    def deliver(self, event: dict) -> None:
        """Take one event of a joined group; must return without waiting."""


class Fanout:
    """The groups the sockets of one event loop listen to, one subscription each."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self._groups: dict[str, _Group] = {}
        # A group being unsubscribed, so that subscribing it again waits for
        # that to finish rather than race it.
        self._leaving: dict[str, asyncio.Task] = {}

    def subscribers(self, group: str) -> int:
        """Return how many local sockets listen to *group*."""
        state = self._groups.get(group)
        return len(state.subscribers) if state else 0

    async def join(self, group: str, subscriber: Subscriber) -> None:
        """Deliver *group*'s events to *subscriber* from now on."""
        state = self._groups.get(group)
        if state is None:
            state = self._groups[group] = _Group()
            state.ready = asyncio.ensure_future(self._subscribe(group, state))
        state.subscribers[subscriber] = None
        # Shielded: a socket that goes away mid-handshake must not cancel the
        # subscription the group's other sockets wait for too.
        await asyncio.shield(state.ready)

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        """Stop delivering *group*'s events to *subscriber*."""
        state = self._groups.get(group)
        if state is None or subscriber not in state.subscribers:
            return
        del state.subscribers[subscriber]
        if state.subscribers:
            return
        del self._groups[group]
        leaving = self._leaving[group] = asyncio.ensure_future(self._unsubscribe(group, state))
        await asyncio.shield(leaving)

    async def _subscribe(self, group: str, state: "_Group") -> None:
        try:
            leaving = self._leaving.get(group)
            if leaving is not None:
                await asyncio.wait([leaving])
            state.channel = await self.layer.new_channel()
            await self.layer.group_add(group, state.channel)
        except BaseException:
            # The next socket to join tries again.
            if self._groups.get(group) is state:
                del self._groups[group]
            raise
        state.reader = asyncio.ensure_future(self._read(group, state))

    async def _unsubscribe(self, group: str, state: "_Group") -> None:
        try:
            await asyncio.wait([state.ready])
            if state.ready.cancelled() or state.ready.exception() is not None:
                return  # never subscribed
            state.reader.cancel()
            await self.layer.group_discard(group, state.channel)
        except Exception:
            logger.warning("Could not leave group %s", group, exc_info=True)
        finally:
            if self._leaving.get(group) is asyncio.current_task():
                del self._leaving[group]

    async def _read(self, group: str, state: "_Group") -> None:
        while True:
            try:
                event = await self.layer.receive(state.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Could not receive from group %s", group)
                await asyncio.sleep(1)
                continue
            # A copy: delivering may make a socket leave.
            for subscriber in list(state.subscribers):
                try:
                    subscriber.deliver(event)
                except Exception:
                    logger.exception("Could not deliver an event of group %s", group)


class _Group:
    def __init__(self) -> None:
        # A dict as an ordered set: sockets get an event in the order they joined.
        self.subscribers: dict[Subscriber, None] = {}
        self.channel = ""
        self.ready: asyncio.Future
        self.reader: asyncio.Task


_fanouts: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout]" = (
    weakref.WeakKeyDictionary()
)


def get_fanout() -> Fanout | None:
    """Return the running event loop's Fanout, or None without a channel layer."""
    loop = asyncio.get_running_loop()
    fanout = _fanouts.get(loop)
    if fanout is None:
        layer = get_channel_layer()
        if layer is None:
            return None
        fanout = _fanouts[loop] = Fanout(layer)
    return fanout
