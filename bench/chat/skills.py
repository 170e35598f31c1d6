"""
Skills in the chat under the chat mix (``python -m bench.chat skills``): U users in U/2
two-person threads send at a fixed total rate (the mix), and a tenth as many users again
each talk to the in-process README skill (alice/scripts/acquaintance, a SkillPartner) in
threads of their own: each sends, waits for the skill's answer on its socket, thinks,
sends the next line of the dialog ("Привет", a name, an age, a pet; the skill ends the
session and the next "Привет" opens a new one). Measured: the time from a user's send to
the skill's answer on that user's socket (p50/p99), and the mix's own latency and server
CPU per message in a step without the skill users and a step with them. Ours only.
"""

import asyncio
import contextlib
import json
import random
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.common import HOST, fmt, percentile, table

from . import fixtures
from .client import OPTIONS, SYNC, connect_all, print_notes
from .mix import targets_for
from .servers import Meters

# The README dialog, over and over: the fourth line ends the session.
DIALOG = ["Привет", "Саша", "25", "Обожаю кошечек"]
SKILL_USERNAME = "bench_skill_acquaintance"
COLUMNS = [
    *(("phase", "phase"), ("rate", "mix/s"), ("offered", "offered/s")),
    *(("p50_ms", "mix p50 ms"), ("p99_ms", "mix p99 ms"), ("lost", "lost")),
    *(("cpu_us_per_msg", "µs/mix msg"), ("skill_turns", "skill turns")),
    *(("skill_p50_ms", "skill p50 ms"), ("skill_p99_ms", "skill p99 ms")),
    *(("skill_unanswered", "unanswered"), ("server_cpu_pct", "srv CPU%")),
]


def prepare(args) -> dict:
    args.step_seconds = args.step_seconds or (3.0 if args.quick else 20.0)
    users = args.users or (200 if args.quick else 1000)
    keys, threads = fixtures.pairs(users, "bench_u")
    skill_keys, skill_threads = skill_users(max(1, users // 10), "bench_s")
    return {"keys": keys, "threads": threads, "skill_keys": skill_keys, "skill": skill_threads}


def skill_users(count: int, prefix: str) -> tuple[list[str], list[int]]:
    """*count* users, each in a thread with the skill (made here): session keys, thread ids."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from privatemessages.models import Message
    from privatemessages.services import thread_counts_rebuild, thread_get_or_create_for_pair
    from skillchat.models import SkillConversation, SkillPartner

    User = get_user_model()
    skill, created = User.objects.get_or_create(username=SKILL_USERNAME)
    if created:
        skill.set_unusable_password()
        skill.save()
    SkillPartner.objects.get_or_create(
        user=skill, defaults={"title": "Знакомство", "mounted_skill": "acquaintance"}
    )
    people = fixtures.users(count, prefix=prefix)
    threads = [thread_get_or_create_for_pair(user=u, other=skill).pk for u in people]
    Message.objects.filter(thread_id__in=threads).delete()
    SkillConversation.objects.filter(thread_id__in=threads).delete()
    thread_counts_rebuild(thread_ids=threads)
    connections.close_all()
    return fixtures.sessions(people), threads


class SkillTalkers:
    """The skill users' sockets: each says a line, waits for the answer, thinks, goes on."""

    def __init__(self, think: float) -> None:
        self.think = think
        self.latencies_ms: list[float] = []
        self.unanswered = 0
        self.errors = 0
        self.recording = False
        self.tasks: list[asyncio.Task] = []
        self.sockets: list = []

    async def start(self, targets: list[tuple[int, int, str]]) -> int:
        opened = await asyncio.gather(*(self._open(*t) for t in targets))
        self.sockets = [ws for ws in opened if ws is not None]
        self.tasks = [asyncio.create_task(self._talk(ws, n)) for n, ws in enumerate(self.sockets)]
        return len(self.sockets)

    async def _open(self, port: int, thread: int, session_key: str):
        for attempt in range(4):
            await asyncio.sleep(0.5 * attempt)
            with contextlib.suppress(OSError, TimeoutError, InvalidHandshake, ConnectionClosed):
                ws = await connect(
                    f"ws://{HOST}:{port}/ws/messages/{thread}/",
                    origin=f"http://{HOST}:{port}",
                    additional_headers=[("Cookie", f"sessionid={session_key}")],
                    **OPTIONS,
                )
                await ws.send(SYNC)
                return ws
        return None

    async def _talk(self, ws, number: int) -> None:
        line, seq = 0, 0
        # Spread the first sends over one think time, as people arriving at different times.
        await asyncio.sleep(random.uniform(0, self.think))
        with contextlib.suppress(ConnectionClosed):
            skill_id = None
            while True:
                seq += 1
                client_id = f"skill-{number}-{seq}-{time.time_ns()}"
                frame = {"type": "message", "text": DIALOG[line], "client_id": client_id}
                sent, answered = time.perf_counter(), False
                await ws.send(json.dumps(frame))
                deadline = sent + 10
                while time.perf_counter() < deadline:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), deadline - time.perf_counter())
                    except TimeoutError:
                        break
                    data = json.loads(raw)
                    if data["type"] == "error":
                        self.errors += 1
                    if data["type"] != "message":
                        continue
                    if data.get("client_id") == client_id:
                        continue  # the echo of the user's own line
                    if skill_id is None or data.get("sender_id") == skill_id:
                        skill_id = data.get("sender_id")
                        answered = True
                        break
                if self.recording:
                    if answered:
                        self.latencies_ms.append(1000 * (time.perf_counter() - sent))
                    else:
                        self.unanswered += 1
                line = (line + 1) % len(DIALOG)
                await asyncio.sleep(self.think)

    def begin(self) -> None:
        self.latencies_ms, self.unanswered, self.errors, self.recording = [], 0, 0, True

    def figures(self) -> dict:
        self.recording = False
        return {
            "skill_turns": len(self.latencies_ms),
            "skill_p50_ms": percentile(self.latencies_ms, 0.5),
            "skill_p99_ms": percentile(self.latencies_ms, 0.99),
            "skill_unanswered": self.unanswered,
            "skill_errors": self.errors,
        }

    async def stop(self) -> None:
        # Python 3.11's wait_for can swallow a cancel that lands as its recv completes, so
        # a talker may not stop by cancel alone: its socket closed ends its loop too.
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(
            *(asyncio.wait_for(ws.close(), 5) for ws in self.sockets), return_exceptions=True
        )
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)


async def run_server(kind: str, args, env: dict, data: dict, group, client) -> dict:
    if kind != "ours":
        return {"skipped": "skills run in ours only"}
    out = await connect_all(client, group, targets_for(kind, group.ports, data))
    senders = [index for index in client.sockets if index ^ 1 in client.sockets]
    if not senders:
        raise RuntimeError("no pair connected: " + group.log_tail())
    rate = args.mix_rate or (20.0 if args.quick else 100.0)
    meters, out["steps"] = Meters(group), []
    talkers = SkillTalkers(think=args.think)
    ports = group.ports
    skill_targets = [
        (ports[n % len(ports)], thread, key)
        for n, (thread, key) in enumerate(zip(data["skill"], data["skill_keys"], strict=True))
    ]
    for phase in ("mix alone", "mix + skills"):
        if phase == "mix + skills":
            out["skill_sockets"] = await talkers.start(skill_targets)
            await asyncio.sleep(args.think + 1)  # every talker has started its dialog
            talkers.begin()
        stats = client.begin_step(len(out["steps"]))
        meters.start()
        sent = await client.send_at_rate(senders, rate=rate, seconds=args.step_seconds)
        expected = sent["sent"] - sent["failed"]
        await client.drain(expected, timeout=args.drain)
        m, send_s = meters.stop(), sent["elapsed"]
        row = {"phase": phase, "rate": rate, "offered": sent["sent"] / send_s, **m}
        row |= stats.figures() | {"lost": expected - len(stats.received) + sent["failed"]}
        # The server's CPU of the step over the mix's messages: with the skills, their work too.
        row["cpu_us_per_msg"] = 1e6 * m["server_cpu"] / max(1, sent["sent"])
        if phase == "mix + skills":
            row |= talkers.figures()
        out["steps"].append(row)
        print(f"[{kind}] " + ", ".join(f"{h} {fmt(row.get(k))}" for k, h in COLUMNS), flush=True)
    await talkers.stop()
    if not group.alive():
        out["error"] = "a server process died: " + group.log_tail()
    return out


def print_tables(results: dict) -> None:
    for kind, res in results["servers"].items():
        if res.get("skipped"):
            continue
        print(f"\nskills in the chat — {kind} ({res.get('skill_sockets')} skill users)")
        print_notes(kind, res)
        print(table(res.get("steps", []), COLUMNS))
