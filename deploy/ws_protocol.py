"""
uvicorn's ``websockets-sansio`` WebSocket protocol, lighter on an idle socket
(deploy/cluster.py serves the chat with it; where an idle socket's memory
goes: bench/README.md, "2026-12-01: idle memory per socket").

A chat tab holds its socket open for hours and sends a frame every 25 s, so
what the protocol keeps per socket counts more than what it does per frame:

- the receive queue: an ``asyncio.Queue`` builds four deques and an Event for
  what is, here, at most a few events with one reader; ``ReceiveQueue`` is a
  deque and a waiter made when first needed;
- the "writable" flag: an ``asyncio.Event`` builds a deque for its waiters;
  ``WritableFlag`` makes a waiter only when a send has to wait;
- the handshake's request and response (websockets' objects, with their
  headers), which uvicorn keeps for as long as the socket lives and never
  reads after the handshake, and which websockets' server parser keeps too
  (a local of its generator, alive while it parses frames): let go once
  the handshake is answered. The ASGI scope keeps its own copy of the
  headers, which the application may still read.

And two additions:

- ``send_text_now``, a text frame sent without a coroutine, which the chat's
  consumers use to hand a live message to each open tab (the ASGI round,
  through the consumer's send and Channels' two layers to this protocol's
  send and its checks, cost about a third of a delivery). A server's frame
  is not masked, so the same text makes the same bytes on every socket
  without an extension: a few recent frames are kept (``text_frame``), and a
  message sent to its thread's open tabs one after another is serialized
  once for each participant;
- pings the application sends (``claim_pings``, ``ping``, ``flush``): the
  chat's keepalive already visits every socket now and then, and a ping
  queued at its visit leaves in the same write as the visit's frames, where
  uvicorn's own pings cost each socket two timers and a write of their own.
  A socket whose ping is still unanswered at the next one is closed, as
  uvicorn closes one whose pong is late.

Everything else is uvicorn's own, unchanged (uvicorn is pinned; the chat's
socket tests run on this class through deploy/cluster.py's command).
"""

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN, Protocol

# Recent text frames by their text (text_frame), a few: a message's texts for
# its participants (one each), sent to every tab of theirs one after another.
_recent_frames: dict[str, bytes] = {}
_RECENT_FRAMES = 16
# A longer text is not kept (its frame would be held until the next clear).
_LONGEST_KEPT = 2**16


def text_frame(text: str) -> bytes:
    """
    The bytes of a whole, unmasked text frame of *text* without extensions, as
    websockets serializes it; built once for the same text sent to socket
    after socket.
    """
    frame = _recent_frames.get(text)
    if frame is None:
        frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
        if len(text) <= _LONGEST_KEPT:
            if len(_recent_frames) >= _RECENT_FRAMES:
                _recent_frames.clear()
            _recent_frames[text] = frame
    return frame


class ReceiveQueue:
    """What uvicorn's protocol uses of ``asyncio.Queue``, for one reader (the ASGI app)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque | None = None
        self._waiter: asyncio.Future | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an idle socket keeps no empty deque
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0


class WritableFlag:
    """What uvicorn's protocol uses of ``asyncio.Event`` for its "writable" flag."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class LeanWebSocketsProtocol(WebSocketsSansIOProtocol):
    # Whether the application pings this socket (claim_pings) instead of uvicorn.
    pings_claimed = False
    # Whether the application's last ping has had no pong yet.
    awaiting_pong = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ReceiveQueue()  # type: ignore[assignment]
        self.writable = WritableFlag()  # type: ignore[assignment]
        self.writable.set()

    async def send(self, message: Any) -> None:
        answered = self.handshake_complete
        await super().send(message)
        if self.handshake_complete and not answered:
            self.let_go_of_handshake()

    def can_send_now(self) -> bool:
        """
        Whether send_text_now can send: the socket is open and its transport
        is not paused. Otherwise the ASGI send() must be used, which waits or
        raises as it should.
        """
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
            and not self.transport.is_closing()
        )

    def send_text_now(self, text: str) -> bool:
        """
        Send *text* as a text frame at once, without a coroutine: what send()
        does with ``{"type": "websocket.send", "text": text}``, when
        can_send_now(). Returns False if the socket closed meanwhile (nothing
        sent; its disconnect is on its way to the application).
        """
        conn = self.conn
        if conn.state is not OPEN or conn.extensions or conn.expect_continuation_frame:
            # What only websockets' own send_text knows how to do (a frame to
            # compress), or refuse.
            try:
                conn.send_text(text.encode())
            except InvalidState:
                return False
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        queued = conn.data_to_send()  # a ping (see ping()), which goes first
        queued.append(text_frame(text))
        self.transport.write(b"".join(queued))  # one item: joined without a copy
        return True

    def let_go_of_handshake(self) -> None:
        # Read by uvicorn only until the handshake is answered.
        self.request = self.response = None
        conn = self.conn
        # websockets' server parser keeps the request in its frame for as long
        # as it parses frames; the frame parser it hands over to (the base
        # class's) keeps nothing. Swapped only at a frame boundary: right after
        # the 101 response nothing can have arrived yet (a client sends frames
        # only once it has read it), and the check makes sure.
        if conn.state is OPEN and not conn.reader.buffer and conn.parser_exc is None:
            parser = Protocol.parse(conn)
            next(parser)
            conn.parser = parser

    def claim_pings(self) -> None:
        """
        The application pings this socket from now on (ping()), and uvicorn's
        timed pings (--ws-ping-interval) stop, or never start if the socket is
        not accepted yet.
        """
        self.pings_claimed = True
        self.stop_keepalive()

    def start_keepalive(self) -> None:
        if not self.pings_claimed:
            super().start_keepalive()

    def ping(self) -> bool:
        """
        Queue a ping, which leaves with the next frame sent or at flush(); but
        if the previous ping is still unanswered, close the socket (code 1011,
        as uvicorn's own ping timeout does). Returns whether the socket is
        still open.
        """
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return False
        if self.awaiting_pong:
            self.keepalive_timeout()  # uvicorn's: fail the connection, write, close
            return False
        try:
            self.conn.send_ping(b"")
        except InvalidState:
            return False
        self.awaiting_pong = True
        return True

    def flush(self) -> None:
        """Write what is queued (a ping), if anything is."""
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))

    def handle_pong(self, event: Any) -> None:
        if self.pings_claimed:
            # Any pong will do: one ping is in flight at a time, and a peer
            # that sends pongs unasked is, at least, alive.
            self.awaiting_pong = False
        else:
            super().handle_pong(event)
