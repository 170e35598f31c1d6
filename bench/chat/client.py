"""
The load client: many WebSocket connections in one asyncio process.

Every message the client sends carries its own identity in its text,
``"bench <step> <socket> <seq> <send time ns>"``, so the same client measures
any server that relays the text (ours, the peer, the ceiling) without relying
on ids or client_ids it may or may not echo.
"""

import asyncio
import contextlib
import json
import math
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import procstat


@dataclass(frozen=True)
class Target:
    """One socket to open: where, as whom, and which thread it belongs to."""

    url: str
    origin: str
    session_key: str | None
    thread: int

    @classmethod
    def chat(cls, port: int, thread: int, session_key: str | None) -> "Target":
        """The chat page's socket of *thread* on the server at *port*."""
        return cls(
            url=f"ws://127.0.0.1:{port}/ws/messages/{thread}/",
            origin=f"http://127.0.0.1:{port}",
            session_key=session_key,
            thread=thread,
        )


@dataclass
class Socket:
    index: int
    target: Target
    ws: ClientConnection
    reader: asyncio.Task | None = None


@dataclass
class StepStats:
    """What every socket received during one step."""

    step: int
    # (receiving socket, sending socket, seq) -> how many times it arrived.
    received: dict[tuple[int, int, int], int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)
    ids: set[tuple[int, int]] = field(default_factory=set)
    duplicate_ids: int = 0
    duplicates: int = 0
    echoes: int = 0
    frames: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    late: int = 0


class LoadClient:
    def __init__(self) -> None:
        # Keeps client_ids unique per sender across runs on one database.
        self.run = secrets.token_hex(3)
        self.sockets: list[Socket] = []
        self.stats = StepStats(step=-1)
        self.closed = 0
        # Handshakes that failed, by error; retries; targets given up on.
        self.connect_errors: Counter[str] = Counter()
        self.connect_retries = 0
        self.connect_failures: Counter[str] = Counter()

    # Connections -----------------------------------------------------------

    async def open(
        self,
        targets: list[Target],
        *,
        first: int = 0,
        concurrency: int = 50,
        retries: int = 3,
        timeout: float = 300,
    ) -> list[Socket]:
        """
        Open a socket for each target, *concurrency* handshakes at a time, each
        tried up to 1 + *retries* times; the sockets are numbered from *first*
        in target order, opened or not.
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, target: Target) -> Socket | None:
            headers = [("Cookie", f"sessionid={target.session_key}")] if target.session_key else []
            ws = None
            for attempt in range(retries + 1):
                if attempt:
                    # As a browser would: try again a little later.
                    self.connect_retries += 1
                    await asyncio.sleep(0.5 * attempt)
                async with gate:
                    try:
                        ws = await connect(
                            target.url,
                            origin=target.origin,
                            additional_headers=headers,
                            compression=None,
                            ping_interval=None,
                            open_timeout=30,
                            close_timeout=2,
                            proxy=None,
                        )
                        break
                    except InvalidStatus as exc:
                        self.connect_errors[f"http_{exc.response.status_code}"] += 1
                    except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                        self.connect_errors[type(exc).__name__] += 1
            if ws is None:
                self.connect_failures[target.url.split("/ws/")[0]] += 1
                return None
            sock = Socket(index=index, target=target, ws=ws)
            sock.reader = asyncio.create_task(self._read(sock))
            return sock

        opened = await asyncio.wait_for(
            asyncio.gather(*(one(first + i, t) for i, t in enumerate(targets))), timeout
        )
        for sock in opened:
            if sock is not None:
                self.sockets.append(sock)
        return [s for s in opened if s is not None]

    async def close(self, timeout: float = 20) -> None:
        async def one(sock: Socket) -> None:
            with contextlib.suppress(Exception):
                await sock.ws.close()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(one(s) for s in self.sockets), return_exceptions=True), timeout
            )
        for sock in self.sockets:
            if sock.reader:
                sock.reader.cancel()
        await asyncio.gather(*(s.reader for s in self.sockets if s.reader), return_exceptions=True)
        self.sockets.clear()

    async def sync(self, *, after: int = 0, wait_for_reply: bool, timeout: float = 60) -> int:
        """
        Send ``{"type": "sync", "after": ...}`` on every socket (the chat sends
        live messages only after it); with *wait_for_reply*, wait for the
        ``synced`` answers. Return how many answered.
        """
        stats = self.begin_step(-1)
        frame = json.dumps({"type": "sync", "after": after})
        for sock in self.sockets:
            with contextlib.suppress(ConnectionClosed):
                await sock.ws.send(frame)
        if not wait_for_reply:
            return 0
        deadline = time.perf_counter() + timeout
        while stats.frames["synced"] < len(self.sockets) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        return stats.frames["synced"]

    @property
    def open_count(self) -> int:
        return sum(1 for s in self.sockets if s.reader and not s.reader.done())

    # Receiving -------------------------------------------------------------

    async def _read(self, sock: Socket) -> None:
        try:
            async for raw in sock.ws:
                self._on_frame(sock.index, raw)
        except ConnectionClosed:
            pass
        finally:
            self.closed += 1

    def _on_frame(self, receiver: int, raw: str | bytes) -> None:
        now = time.perf_counter_ns()
        stats = self.stats
        try:
            data = json.loads(raw)
            kind = data.get("type")
        except (ValueError, AttributeError):
            stats.frames["<invalid>"] += 1
            return
        stats.frames[str(kind)] += 1
        if kind == "error":
            stats.errors[str(data.get("code"))] += 1
            return
        if kind != "message":
            return
        text = data.get("text")
        if not isinstance(text, str) or not text.startswith("bench "):
            return
        try:
            _, step, sender, seq, sent_ns = text.split(" ", 5)[:5]
            step, sender, seq, sent_ns = int(step), int(sender), int(seq), int(sent_ns)
        except ValueError:
            stats.frames["<foreign>"] += 1
            return
        if step != stats.step:
            stats.late += 1
            return
        if sender == receiver:
            stats.echoes += 1
            return
        key = (receiver, sender, seq)
        seen = stats.received.get(key, 0)
        stats.received[key] = seen + 1
        if seen:
            stats.duplicates += 1
        else:
            stats.latencies_ns.append(now - sent_ns)
        message_id = data.get("id")
        if message_id is not None:
            id_key = (receiver, message_id)
            if id_key in stats.ids:
                stats.duplicate_ids += 1
            else:
                stats.ids.add(id_key)

    # Sending ---------------------------------------------------------------

    async def send_at_rate(
        self,
        senders: list[Socket],
        *,
        rate: float,
        seconds: float,
        step: int,
        tick: float = 0.002,
        padding: str = "",
    ) -> dict:
        """
        Send *rate* messages/s for *seconds*, round-robin over *senders* (so each
        sends rate/len(senders) per second). Open loop: a server that falls
        behind shows up as latency, not as a slower offered rate, unless the
        sockets' write buffers fill up.
        """
        seqs = [0] * len(senders)
        sent = 0
        failed = 0
        start = time.perf_counter()
        end = start + seconds
        n = len(senders)
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            due = min(int((now - start) * rate) + 1, int(seconds * rate)) - sent
            for _ in range(max(0, due)):
                slot = sent % n
                sock = senders[slot]
                seq = seqs[slot]
                seqs[slot] += 1
                sent += 1
                text = f"bench {step} {sock.index} {seq} {time.perf_counter_ns()}{padding}"
                frame = json.dumps(
                    {
                        "type": "message",
                        "text": text,
                        "client_id": f"{self.run}-{sock.index}-{step}-{seq}",
                    }
                )
                try:
                    await sock.ws.send(frame)
                except ConnectionClosed:
                    failed += 1
            await asyncio.sleep(tick)
        return {"sent": sent, "failed": failed, "elapsed": time.perf_counter() - start}

    def begin_step(self, step: int) -> StepStats:
        self.stats = StepStats(step=step)
        return self.stats

    async def drain(self, expected: int, *, timeout: float, idle: float = 0.2) -> float:
        """
        Wait until *expected* distinct deliveries arrived, at most *timeout*
        seconds, then *idle* more for stragglers (duplicates). Return the wait.
        """
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if len(self.stats.received) >= expected:
                break
            await asyncio.sleep(0.02)
        # A short grace period to catch duplicates arriving right after.
        await asyncio.sleep(idle)
        return time.perf_counter() - start


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    # Nearest rank.
    index = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


class ClientCpu:
    """CPU use of this (client) process."""

    def __init__(self) -> None:
        self.base = procstat.self_cpu_seconds()

    def used(self) -> float:
        return procstat.self_cpu_seconds() - self.base
