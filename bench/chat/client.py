"""
The load client: many WebSocket connections in one asyncio process. Every message it sends
carries its identity in its text, ``"bench <step> <socket> <seq> <send time ns>"``, so it
measures any server that relays the text (ours, the peer, the ceiling) alike.
"""

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench.common import HOST, percentile

SYNC = '{"type": "sync", "after": 0}'
# No pings of the client's own (the server's keepalive frames prove a socket alive), no
# compression.
OPTIONS = {"ping_interval": None, "compression": None, "open_timeout": 30, "proxy": None}


@dataclass
class StepStats:
    """What every socket received during one step."""

    step: int
    # (receiving socket, sending socket, seq) -> how many times it arrived.
    received: Counter[tuple[int, int, int]] = field(default_factory=Counter)
    latencies_ns: list[int] = field(default_factory=list)
    frames: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def figures(self) -> dict:
        """Latency (send to partner), duplicates, frames and errors of the step."""
        ms = [ns / 1e6 for ns in self.latencies_ns]
        figures = {"p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99)}
        figures["duplicated"] = self.received.total() - len(self.received)
        figures |= {"frame_types": dict(self.frames), "errors": self.errors.total()}
        return figures | {"error_codes": dict(self.errors)}


class LoadClient:
    def __init__(self, kind: str = "") -> None:
        # Ours' tabs say on connect they are visible, as chat.js does (presence on).
        self.hello = '{"type": "activity", "active": true}' if kind == "ours" else None
        self.run = secrets.token_hex(3)  # keeps client_ids unique across runs on one database
        self.sockets: dict[int, object] = {}  # index -> open connection
        self.readers: list[asyncio.Task] = []
        self.stats = StepStats(step=-1)
        self.closed = 0
        self.connect_errors: Counter[str] = Counter()  # failed handshakes, by error

    async def open(self, targets: list[tuple[int, int, str]], first: int = 0) -> None:
        """
        Open a socket per (port, thread, session key), numbered from *first*, 50 handshakes
        at a time, each tried up to 4 times (as a browser would: again a little later).
        """
        gate = asyncio.Semaphore(50)

        async def one(index: int, port: int, thread: int, session_key: str) -> None:
            for attempt in range(4):
                await asyncio.sleep(0.5 * attempt)
                async with gate:
                    try:
                        ws = await connect(
                            f"ws://{HOST}:{port}/ws/messages/{thread}/",
                            origin=f"http://{HOST}:{port}",  # the page's
                            additional_headers=[("Cookie", f"sessionid={session_key}")],
                            **OPTIONS,
                        )
                    except InvalidStatus as exc:
                        self.connect_errors[f"http_{exc.response.status_code}"] += 1
                        continue
                    except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                        self.connect_errors[type(exc).__name__] += 1
                        continue
                if self.hello:
                    await ws.send(self.hello)
                self.sockets[index] = ws
                self.readers.append(asyncio.create_task(self._read(index, ws)))
                return
            self.connect_errors["given up"] += 1

        tasks = (one(first + i, *target) for i, target in enumerate(targets))
        await asyncio.wait_for(asyncio.gather(*tasks), 600)

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            closing = (ws.close() for ws in self.sockets.values())
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 20)
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.sockets.clear()

    async def sync(self, *, wait_for_reply: bool, timeout: float = 60) -> int:
        """Send a sync from 0 on every socket (the chat sends live messages only after it);
        with *wait_for_reply*, wait for the answers. Return how many answered."""
        stats = self.begin_step(-1)
        for ws in self.sockets.values():
            with contextlib.suppress(ConnectionClosed):
                await ws.send(SYNC)
        deadline = time.perf_counter() + timeout
        while wait_for_reply and stats.frames["synced"] < len(self.sockets):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.05)
        return stats.frames["synced"]

    async def heartbeat(self, every: float) -> None:
        """Send every socket's periodic sync (older clients' heartbeat) every *every* seconds, each
        socket at its own phase as tabs opened at different times would, until cancelled."""
        phases = sorted((random.uniform(0, every), index) for index in self.sockets)
        start = time.perf_counter()
        for beat in itertools.count():
            for phase, index in phases:
                await asyncio.sleep(max(0, start + beat * every + phase - time.perf_counter()))
                with contextlib.suppress(ConnectionClosed):
                    await self.sockets[index].send(SYNC)

    async def _read(self, index: int, ws) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                self._on_frame(index, raw)
        self.closed += 1

    def _on_frame(self, receiver: int, raw: str | bytes) -> None:
        now, stats, data = time.perf_counter_ns(), self.stats, json.loads(raw)
        stats.frames[data["type"]] += 1
        if data["type"] == "error":
            stats.errors[str(data.get("code"))] += 1
        text = data.get("text", "") if data["type"] == "message" else ""
        if text.startswith("bench "):
            step, sender, seq, sent_ns = map(int, text.split(" ", 5)[1:5])
            if step == stats.step and sender != receiver:  # not late, not an echo
                stats.received[receiver, sender, seq] += 1
                if stats.received[receiver, sender, seq] == 1:
                    stats.latencies_ns.append(now - sent_ns)

    async def send_at_rate(self, senders: list[int], *, rate: float, seconds: float) -> dict:
        """
        Send *rate* messages/s for *seconds*, round-robin over *senders*. Open loop: a server
        that falls behind shows up as latency, not as a slower offered rate.
        """
        seqs, sent, failed = [0] * len(senders), 0, 0
        start, step = time.perf_counter(), self.stats.step
        while (now := time.perf_counter()) < start + seconds:
            for _ in range(min(int((now - start) * rate) + 1, int(seconds * rate)) - sent):
                slot = sent % len(senders)
                index, seq = senders[slot], seqs[slot]
                seqs[slot], sent = seq + 1, sent + 1
                text = f"bench {step} {index} {seq} {time.perf_counter_ns()}"
                frame = {"type": "message", "text": text}
                try:
                    client_id = f"{self.run}-{index}-{step}-{seq}"
                    await self.sockets[index].send(json.dumps(frame | {"client_id": client_id}))
                except ConnectionClosed:
                    failed += 1
            await asyncio.sleep(0.002)
        return {"sent": sent, "failed": failed, "elapsed": time.perf_counter() - start}

    def begin_step(self, step: int) -> StepStats:
        self.stats = StepStats(step=step)
        return self.stats

    async def drain(self, expected: int, *, timeout: float) -> None:
        """Wait until *expected* distinct deliveries arrived (at most *timeout* s), then a
        little more for duplicates arriving right after."""
        deadline = time.perf_counter() + timeout
        while len(self.stats.received) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)


async def connect_all(client: LoadClient, group, targets: list, warm: int = 20) -> dict:
    """
    Open every target's socket and sync it; return the connection figures and the RSS per
    idle socket: RSS after all minus RSS after the first *warm* (so that one-off imports and
    connections are not counted), divided by the rest.
    """
    replies, started = group.kind == "ours", time.perf_counter()  # only ours answers a sync
    await client.open(targets[:warm])
    await client.sync(wait_for_reply=replies)
    first = time.perf_counter() - started
    await asyncio.sleep(0.5)
    rss_warm, started = group.rss_bytes(), time.perf_counter()
    await client.open(targets[warm:], first=warm)
    out = {"synced": await client.sync(wait_for_reply=replies)}
    out["connect_seconds"] = round(first + time.perf_counter() - started, 2)  # all, synced
    await asyncio.sleep(1.5)
    rss_idle, opened = group.rss_bytes(), len(client.sockets)
    out |= {"sockets": opened, "rss_mb_idle": round(rss_idle / 2**20, 1)}
    out["connect_errors"] = dict(client.connect_errors)
    if opened > warm:
        out["rss_kb_per_idle_socket"] = round((rss_idle - rss_warm) / (opened - warm) / 1024, 1)
    return out


def print_notes(name: str, row: dict) -> None:
    """Print what went wrong for one server, if anything."""
    if row.get("connect_errors"):
        print(f"  {name}: failed handshakes (retried up to 3 times) {row['connect_errors']}")
    if row.get("error"):
        print(f"  {name}: {row['error'][:2000]}")
