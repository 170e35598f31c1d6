"""
The load client: many WebSocket connections in one asyncio process.

Every message the client sends carries its own identity in its text,
``"bench <step> <socket> <seq> <send time ns>"``, so the same client measures any server
that relays the text (ours, the peer, the ceiling) without relying on ids or client_ids it
may or may not echo.
"""

import asyncio
import contextlib
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench.common import HOST, percentile


@dataclass
class StepStats:
    """What every socket received during one step."""

    step: int
    # (receiving socket, sending socket, seq) -> how many times it arrived.
    received: dict[tuple[int, int, int], int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)
    ids: set[tuple[int, int]] = field(default_factory=set)
    duplicates: int = 0
    frames: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def figures(self) -> dict:
        """Latency (send to partner), duplicates, frames and errors of the step."""
        latencies = [ns / 1e6 for ns in self.latencies_ns]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        figures = {"p50_ms": p50, "p99_ms": p99, "max_ms": max(latencies, default=None)}
        figures |= {"duplicated": self.duplicates, "frame_types": dict(self.frames)}
        return figures | {"errors": sum(self.errors.values()), "error_codes": dict(self.errors)}


class LoadClient:
    def __init__(self) -> None:
        self.run = secrets.token_hex(3)  # keeps client_ids unique across runs on one database
        self.sockets: dict[int, object] = {}  # index -> open connection
        self.readers: list[asyncio.Task] = []
        self.stats = StepStats(step=-1)
        self.closed = 0
        # Handshakes that failed, by error; retries; sockets given up on.
        self.connect_errors: Counter[str] = Counter()
        self.connect_retries = self.connect_failures = 0

    async def open(self, targets: list[tuple[int, int, str]], first: int = 0) -> None:
        """
        Open a socket per (port, thread, session key), numbered from *first*, 50 handshakes
        at a time, each tried up to 4 times (as a browser would: again a little later).
        """
        gate = asyncio.Semaphore(50)

        async def one(index: int, port: int, thread: int, session_key: str) -> None:
            for attempt in range(4):
                if attempt:
                    self.connect_retries += 1
                    await asyncio.sleep(0.5 * attempt)
                async with gate:
                    try:
                        ws = await connect(
                            f"ws://{HOST}:{port}/ws/messages/{thread}/",
                            origin=f"http://{HOST}:{port}",
                            additional_headers=[("Cookie", f"sessionid={session_key}")],
                            compression=None,
                            ping_interval=None,
                            open_timeout=30,
                            close_timeout=2,
                            proxy=None,
                        )
                    except InvalidStatus as exc:
                        self.connect_errors[f"http_{exc.response.status_code}"] += 1
                        continue
                    except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                        self.connect_errors[type(exc).__name__] += 1
                        continue
                self.sockets[index] = ws
                self.readers.append(asyncio.create_task(self._read(index, ws)))
                return
            self.connect_failures += 1

        await asyncio.wait_for(
            asyncio.gather(*(one(first + i, *t) for i, t in enumerate(targets))), 300
        )

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            closing = (ws.close() for ws in self.sockets.values())
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 20)
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.sockets.clear()

    async def sync(self, *, wait_for_reply: bool, timeout: float = 60) -> int:
        """
        Send ``{"type": "sync", "after": 0}`` on every socket (the chat sends live messages
        only after it); with *wait_for_reply*, wait for the ``synced`` answers. Return how
        many answered.
        """
        stats = self.begin_step(-1)
        for ws in self.sockets.values():
            with contextlib.suppress(ConnectionClosed):
                await ws.send('{"type": "sync", "after": 0}')
        deadline = time.perf_counter() + timeout
        while wait_for_reply and stats.frames["synced"] < len(self.sockets):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.05)
        return stats.frames["synced"]

    @property
    def open_count(self) -> int:
        return sum(1 for reader in self.readers if not reader.done())

    async def _read(self, index: int, ws) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                self._on_frame(index, raw)
        self.closed += 1

    def _on_frame(self, receiver: int, raw: str | bytes) -> None:
        now, stats = time.perf_counter_ns(), self.stats
        try:
            data = json.loads(raw)
            kind = str(data.get("type"))
        except (ValueError, AttributeError):
            kind, data = "<invalid>", {}
        stats.frames[kind] += 1
        if kind == "error":
            stats.errors[str(data.get("code"))] += 1
        text = data.get("text") if kind == "message" else None
        if not isinstance(text, str) or not text.startswith("bench "):
            return
        try:
            step, sender, seq, sent_ns = map(int, text.split(" ", 5)[1:5])
        except ValueError:
            stats.frames["<foreign>"] += 1
            return
        if step != stats.step or sender == receiver:  # late, or an echo
            return
        key = (receiver, sender, seq)
        seen = stats.received.get(key, 0)
        stats.received[key] = seen + 1
        if seen:
            stats.duplicates += 1
        else:
            stats.latencies_ns.append(now - sent_ns)
        if data.get("id") is not None:
            id_key = (receiver, data["id"])
            stats.duplicates += id_key in stats.ids
            stats.ids.add(id_key)

    async def send_at_rate(self, senders: list[int], *, rate: float, seconds: float) -> dict:
        """
        Send *rate* messages/s for *seconds*, round-robin over *senders* (so each sends
        rate/len(senders) per second). Open loop: a server that falls behind shows up as
        latency, not as a slower offered rate, unless the sockets' write buffers fill up.
        """
        seqs, sent, failed = [0] * len(senders), 0, 0
        start = time.perf_counter()
        step = self.stats.step
        while (now := time.perf_counter()) < start + seconds:
            for _ in range(min(int((now - start) * rate) + 1, int(seconds * rate)) - sent):
                slot = sent % len(senders)
                index, seq = senders[slot], seqs[slot]
                seqs[slot] += 1
                sent += 1
                text = f"bench {step} {index} {seq} {time.perf_counter_ns()}"
                client_id = f"{self.run}-{index}-{step}-{seq}"
                try:
                    await self.sockets[index].send(
                        json.dumps({"type": "message", "text": text, "client_id": client_id})
                    )
                except ConnectionClosed:
                    failed += 1
            await asyncio.sleep(0.002)
        return {"sent": sent, "failed": failed, "elapsed": time.perf_counter() - start}

    def begin_step(self, step: int) -> StepStats:
        self.stats = StepStats(step=step)
        return self.stats

    async def drain(self, expected: int, *, timeout: float) -> None:
        """Wait until *expected* distinct deliveries arrived (at most *timeout* s), then
        a little more for duplicates arriving right after."""
        deadline = time.perf_counter() + timeout
        while len(self.stats.received) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)


async def connect_all(client: LoadClient, group, targets: list, kind: str, warm: int = 20) -> dict:
    """
    Open every target's socket and sync it; return the connection figures and the RSS per
    idle socket: RSS after all minus RSS after the first *warm* (so that one-off imports and
    connections are not counted), divided by the rest.
    """
    replies = kind == "ours"  # the chat answers a sync; the others ignore it
    await client.open(targets[:warm])
    await client.sync(wait_for_reply=replies)
    await asyncio.sleep(0.5)
    rss_warm, started = group.rss_bytes(), time.perf_counter()
    await client.open(targets[warm:], first=warm)
    out = {"synced": await client.sync(wait_for_reply=replies)}
    out["connect_seconds"] = round(time.perf_counter() - started, 2)
    await asyncio.sleep(1.5)
    rss_idle, opened = group.rss_bytes(), len(client.sockets)
    out |= {"sockets": opened, "rss_mb_idle": round(rss_idle / 2**20, 1)}
    out["connect_errors"] = dict(client.connect_errors)
    out["connect_retries"], out["connect_failures"] = (
        client.connect_retries,
        client.connect_failures,
    )
    if opened > warm:
        out["rss_kb_per_idle_socket"] = round((rss_idle - rss_warm) / (opened - warm) / 1024, 1)
    return out
