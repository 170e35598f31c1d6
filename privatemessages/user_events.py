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
    # The thread a chat socket shows, or None (the thread list).
    thread_id: int | None

    def user_event(self, event: dict) -> None:
        """Take an event addressed to this socket's user; must not wait."""


class _Sockets:
    """This event loop's open sockets by user; the Fanout's subscriber of USERS_GROUP."""

    def __init__(self) -> None:
        # user id -> the thread a socket shows (None: the list) -> those sockets.
        self.by_user: dict[int, dict[int | None, set[Receiver]]] = {}

    def deliver(self, event: dict) -> None:
        # A thread's own chat sockets do not get its thread.update: the
        # message frame carries its counts. Skipped here, per thread, rather
        # than dropped by each of a user's tabs on that thread.
        shown_thread = None
        if event.get("type") == events.THREAD_UPDATE:
            shown_thread = event["thread"]["thread"]
        for user_id, addressed in events.per_user(event):
            for thread_id, sockets in list(self.by_user.get(user_id, {}).items()):
                if thread_id is None or thread_id != shown_thread:
                    for socket in list(sockets):
                        socket.user_event(addressed)


# The running event loop's sockets.
_loop_sockets = per_loop(_Sockets)


async def watch(socket: Receiver) -> None:
    """Hand *socket* the events addressed to its user, from now on."""
    sockets = _loop_sockets()
    sockets.by_user.setdefault(socket.user_id, {}).setdefault(socket.thread_id, set()).add(socket)
    fanout = get_fanout()
    if fanout is not None:
        # Subscribes on the first call, only waits for the subscription after.
        await fanout.join(events.USERS_GROUP, sockets)


def unwatch(socket: Receiver) -> None:
    """Stop handing *socket* events (it closed)."""
    by_user = _loop_sockets().by_user
    shown = by_user.get(socket.user_id, {})
    receivers = shown.get(socket.thread_id)
    if receivers is not None:
        receivers.discard(socket)
        if not receivers:
            del shown[socket.thread_id]
            if not shown:
                del by_user[socket.user_id]
