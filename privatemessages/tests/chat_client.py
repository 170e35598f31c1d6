"""
A Python twin of the browser client (privatemessages/static/privatemessages/socket.js and
chat.js) for the tests with real server processes: it reconnects with
exponential backoff and jitter, syncs from the last id it showed on every
connect, and resends the messages the server has not confirmed, with their
client_id so the server saves each once.
"""

import asyncio
import contextlib
import json
import random
import uuid

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

# Errors after which the same message may be sent again later.
RETRYABLE = {"rate_limited", "server_error"}


class ChatClient:
    def __init__(
        self,
        ws_url: str,
        thread_id: int,
        cookie: str,
        *,
        origin: str,
        after: int = 0,
        min_delay: float = 0.05,
        max_delay: float = 1.0,
        resync_every: float = 25.0,
        name: str = "",
    ) -> None:
        self.url = f"{ws_url}/ws/messages/{thread_id}/"
        self.cookie = cookie
        self.origin = origin
        self.name = name
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.resync_every = resync_every
        self.last_id = after
        self.shown: list[dict] = []  # the messages "on screen", in order
        self.pending: dict[str, str] = {}  # client_id -> text, not yet confirmed
        self.duplicates: list[dict] = []  # frames for messages already shown
        self.errors: list[dict] = []
        self.connects = 0
        self.changed = asyncio.Condition()
        self._ws: ClientConnection | None = None
        self._synced = False
        self._task: asyncio.Task | None = None

    # Lifecycle

    def start(self) -> "ChatClient":
        self._task = asyncio.create_task(self._run(), name=f"chat client {self.name}")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with connect(
                    self.url,
                    origin=self.origin,
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=5,
                    close_timeout=1,
                    max_queue=None,
                ) as ws:
                    self._ws = ws
                    self.connects += 1
                    attempt = 0
                    heartbeat = asyncio.create_task(self._heartbeat(ws))
                    try:
                        await ws.send(json.dumps({"type": "sync", "after": self.last_id}))
                        async for raw in ws:
                            await self._handle(ws, json.loads(raw))
                    finally:
                        heartbeat.cancel()
            except (OSError, WebSocketException, TimeoutError):
                pass
            finally:
                self._ws = None
                self._synced = False
            # Full jitter: a random delay up to an exponentially growing cap.
            cap = min(self.max_delay, self.min_delay * 2**attempt)
            await asyncio.sleep(random.uniform(0, cap))
            attempt += 1

    async def _heartbeat(self, ws: ClientConnection) -> None:
        # As socket.js does: a periodic sync catches a live message that was
        # lost with nothing after it to reveal the gap.
        while True:
            await asyncio.sleep(self.resync_every)
            if self._synced:
                with contextlib.suppress(WebSocketException, OSError):
                    await ws.send(json.dumps({"type": "sync", "after": self.last_id}))

    # Frames

    async def _handle(self, ws: ClientConnection, frame: dict) -> None:
        kind = frame["type"]
        if kind == "message":
            if frame["id"] <= self.last_id:
                self.duplicates.append(frame)
            else:
                self.shown.append(frame)
                self.last_id = frame["id"]
                if frame.get("client_id") is not None:
                    self.pending.pop(frame["client_id"], None)
        elif kind == "synced":
            if frame["more"]:
                await ws.send(json.dumps({"type": "sync", "after": self.last_id}))
            else:
                self._synced = True
                for client_id, text in list(self.pending.items()):
                    await self._send_frame(client_id, text)
        elif kind == "error":
            self.errors.append(frame)
            client_id = frame.get("client_id")
            if frame["code"] in RETRYABLE and client_id in self.pending:
                asyncio.get_running_loop().call_later(
                    1, lambda: asyncio.ensure_future(self._resend(client_id))
                )
        async with self.changed:
            self.changed.notify_all()

    async def send(self, text: str) -> str:
        """Queue *text*; send it now if connected, else on the next connect."""
        client_id = uuid.uuid4().hex
        self.pending[client_id] = text
        if self._synced:
            await self._send_frame(client_id, text)
        return client_id

    async def _resend(self, client_id: str) -> None:
        if self._synced and client_id in self.pending:
            await self._send_frame(client_id, self.pending[client_id])

    async def _send_frame(self, client_id: str, text: str) -> None:
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(WebSocketException, OSError):
            await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))

    async def wait_for(self, predicate, timeout: float) -> None:
        """Wait until *predicate(self)* holds, or fail after *timeout* seconds."""

        async def until():
            async with self.changed:
                await self.changed.wait_for(lambda: predicate(self))

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"client {self.name}: condition not met in {timeout} s; shown "
                f"{len(self.shown)}, pending {len(self.pending)}, connects {self.connects}, "
                f"errors {self.errors[-3:]}"
            ) from None
