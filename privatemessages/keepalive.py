"""
The server's keepalive (docs/protocol.md, "Keepalive"): every KEEPALIVE_EVERY
seconds each open socket of this process is visited once, without the client
asking. A visit keeps an active tab's user online, catches a live message the
socket missed (its thread's head in Redis is newer than what it delivered) and
sends the frames that tell the client the connection is alive (``synced`` or
``pong``, and ``presence``).

The sockets are spread over one slice per second, and a slice's visits share
one Redis round trip: an idle tab costs one frame out now and then, nothing
in, and no database work unless a message is missing.

A socket joins the slice visited last, so its first visit comes a whole
period after it opened (its first sync has just answered all this).
"""

import asyncio
import logging
from typing import Protocol

from . import thread_heads
from .conf import app_settings
from .per_loop import per_loop
from .presence import Presence, get_presence
from .userlimits import get_user_limits

logger = logging.getLogger(__name__)


class Visited(Protocol):
    """A socket the keepalive visits (base_consumer.BaseConsumer)."""

    keepalive_slice: int | None

    def keepalive_needs(self) -> tuple[tuple[int, str] | None, list[int], str | None]:
        """(the presence entry to refresh, the users whose presence to read, a Redis key)."""

    def keepalive(
        self, live: dict[int, Presence] | None, value: bytes | None, reached: bool
    ) -> None:
        """
        The visit's answer: the presence read (None when Redis did not answer:
        send none) and the key's value; *reached* False when the socket is to
        answer only what proves it alive. Must not wait.
        """


class KeepaliveRounds:
    """This event loop's sockets, in slices, and the task that visits them."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.slices: list[set[Visited]] = [set() for _ in range(max(1, round(every)))]
        # The slice visited last: a new socket joins it.
        self.last = 0
        self.task: asyncio.Task | None = None
        # Rounds in a row whose Redis round trip failed.
        self.failures = 0

    def join(self, socket: Visited) -> None:
        socket.keepalive_slice = self.last
        self.slices[self.last].add(socket)
        if self.every > 0 and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    def leave(self, socket: Visited) -> None:
        if socket.keepalive_slice is not None:
            self.slices[socket.keepalive_slice].discard(socket)
            socket.keepalive_slice = None

    async def visit_all(self) -> None:
        """Visit every socket now, in one round trip (the tests' way to run a round)."""
        await self.visit([socket for part in self.slices for socket in part])

    async def visit(self, sockets: list[Visited]) -> None:
        needs = [socket.keepalive_needs() for socket in sockets]
        touches = [touch for touch, _, _ in needs if touch is not None]
        user_ids = list(dict.fromkeys(user for _, users, _ in needs for user in users))
        keys = list(dict.fromkeys(key for _, _, key in needs if key is not None))
        answer = await get_presence().keepalive_round(
            touches, user_ids, keys, thread_heads.HEAD_TTL
        )
        if answer is None:
            # Redis did not answer. Once, the sockets are only told they are
            # alive: reading the database for a whole slice would pile onto
            # whatever slowed Redis down. If it fails again, they read it.
            self.failures += 1
            live, found, reached = None, {}, self.failures > 1
        else:
            self.failures = 0
            live, found, reached = answer[0], dict(zip(keys, answer[1], strict=True)), True
        for socket, (_, _, key) in zip(sockets, needs, strict=True):
            try:
                socket.keepalive(live, found.get(key) if key is not None else None, reached)
            except Exception:
                logger.exception("Keepalive: could not visit a socket")

    async def _run(self) -> None:
        pause = self.every / len(self.slices)
        try:
            while any(self.slices):
                await asyncio.sleep(pause)
                self.last = (self.last + 1) % len(self.slices)
                if thread_heads.has_unwritten():
                    await thread_heads.raise_unwritten(get_user_limits().redis_client())
                sockets = list(self.slices[self.last])
                if sockets:
                    try:
                        await self.visit(sockets)
                    except Exception:
                        logger.exception("Keepalive: a round failed")
        finally:
            self.task = None


# The running event loop's KeepaliveRounds.
get_keepalive = per_loop(lambda: KeepaliveRounds(app_settings.KEEPALIVE_EVERY))
