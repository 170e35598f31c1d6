"""
Events addressed to users, delivered to their sockets on this process.

Every process subscribes once to events.USERS_GROUP and hands each event to
the open sockets of the users it names: ``session.ended`` (close them),
``thread.update`` (a new message in one of their threads: the thread list,
the header's total, a notification), ``unread.update`` (they read
somewhere) and ``settings.changed``. A group per user would cost every open
socket a subscription of its own on its process (memory per idle socket);
here a process receives every user event once and looks its users up in a
dict. That suits the handful of processes a site runs: each decodes every
user event (two per message at most, one publish); with many more, the group
would be split by a hash of the user id.
"""

from typing import Protocol

from . import events
from .fanout import get_fanout
from .per_loop import per_loop


class Receiver(Protocol):
    user_id: int

    def user_event(self, event: dict) -> None:
        """Take an event addressed to this socket's user; must not wait."""


class _Sockets:
    """This event loop's open sockets by user; the Fanout's subscriber of USERS_GROUP."""

    def __init__(self) -> None:
        self.by_user: dict[int, set[Receiver]] = {}

    def deliver(self, event: dict) -> None:
        for user_id, addressed in events.per_user(event):
            for socket in list(self.by_user.get(user_id, ())):
                socket.user_event(addressed)


# The running event loop's sockets.
_loop_sockets = per_loop(_Sockets)


async def watch(socket: Receiver) -> None:
    """Hand *socket* the events addressed to its user, from now on."""
    sockets = _loop_sockets()
    sockets.by_user.setdefault(socket.user_id, set()).add(socket)
    fanout = get_fanout()
    if fanout is not None:
        # Subscribes on the first call, only waits for the subscription after.
        await fanout.join(events.USERS_GROUP, sockets)


def unwatch(socket: Receiver) -> None:
    """Stop handing *socket* events (it closed)."""
    receivers = _loop_sockets().by_user.get(socket.user_id)
    if receivers is not None:
        receivers.discard(socket)
        if not receivers:
            del _loop_sockets().by_user[socket.user_id]
