"""
The sockets to close when a session ends, by user, for this process.

Every process subscribes once to events.SESSIONS_GROUP and hands each
``session.ended`` event to the open sockets of the user it names. A group per
user would cost a subscription per signed-in user per process, for an event
that comes once a session.
"""

import asyncio
import weakref
from typing import Protocol

from . import events
from .fanout import get_fanout


class Watcher(Protocol):
    user_id: int

    def session_event(self, event: dict) -> None:
        """Take a ``session.ended`` event of this socket's user; must not wait."""


class _Sockets:
    """This event loop's open sockets by user; the Fanout's subscriber of SESSIONS_GROUP."""

    def __init__(self) -> None:
        self.by_user: dict[int, set[Watcher]] = {}

    def deliver(self, event: dict) -> None:
        for socket in list(self.by_user.get(event.get("user"), ())):
            socket.session_event(event)


_sockets: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sockets]" = (
    weakref.WeakKeyDictionary()
)


async def watch(socket: Watcher) -> None:
    """Tell *socket* when a session of its user ends, from now on."""
    loop = asyncio.get_running_loop()
    sockets = _sockets.get(loop)
    if sockets is None:
        sockets = _sockets[loop] = _Sockets()
    sockets.by_user.setdefault(socket.user_id, set()).add(socket)
    fanout = get_fanout()
    if fanout is not None:
        # Subscribes on the first call, only waits for the subscription after.
        await fanout.join(events.SESSIONS_GROUP, sockets)


def unwatch(socket: Watcher) -> None:
    """Stop telling *socket* (it closed)."""
    sockets = _sockets.get(asyncio.get_running_loop())
    if sockets is None:
        return
    watchers = sockets.by_user.get(socket.user_id)
    if watchers is not None:
        watchers.discard(socket)
        if not watchers:
            del sockets.by_user[socket.user_id]
