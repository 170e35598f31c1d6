"""
One user, many chat sockets: a send flood and a catch-up storm against real server
processes (the site as deploy/cluster.py runs it, --processes of them, from --tree: this
one, or a ``git worktree`` of another commit), with the bench's deployed settings but the
per-connection frame limit at its default (10/s, burst 20). Prints figures; asserts
nothing; loopback only; bounded in time. Its database (BENCH_SOCKETS_DATABASE_URL, default
bench_chat_sockets) is made afresh from --tree's migrations and dropped at the end; its
Redis keys (BENCH_REDIS_URL) go under a fresh prefix, deleted at the end.

1. Send flood: --sockets sockets of one user ("anna"), spread over the processes, each
   sending as fast as the per-connection limit lets it (a client-side token bucket) for
   --seconds: sockets accepted and refused (close code), messages sent, refused (by error
   code) and saved, by the time the sending stopped and in all.
2. Catch-up storm: --sync-sockets sockets of anna each syncing a thread of --thread-size
   messages from 0, asking again at once on every "more" (as chat.js does), for at most
   --sync-seconds, while "vera" syncs her own thread of 300 messages every half second:
   frames replayed, sockets done, and vera's time per page before and during the storm.

    .venv/bin/python bench/attacks/chat_sockets.py [--tree PATH] [--processes 2]
"""

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import HOST, RESULTS, percentile, prepare_site, site, site_env  # noqa: E402

# The per-connection limit's defaults (myproject/settings.py), which the
# flooding client keeps to: "as fast as allowed".
WS_RATE = 10.0
WS_BURST = 20
NORMAL_THREAD_SIZE = 300

# Run in --tree's Django (its models, its migrations): users, one session
# each, the threads and their stored messages. Prints one JSON line.
FIXTURES = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from privatemessages.models import Message
from privatemessages.services import thread_get_or_create_for_pair

names = ("anna", "boris", "carol", "vera", "gleb")
users = {name: get_user_model().objects.create_user(name) for name in names}

def session(user):
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value

def thread_with(a, b, count):
    thread = thread_get_or_create_for_pair(user=users[a], other=users[b])
    now = timezone.now()
    Message.objects.bulk_create(
        (Message(thread=thread, sender=users[b if n %% 2 else a], text=f"сообщение {n}",
                 created=now) for n in range(count)),
        batch_size=2000,
    )
    return thread.pk

print(json.dumps({
    "flood_thread": thread_with("anna", "carol", 1),
    "big_thread": thread_with("anna", "boris", %(thread_size)d),
    "normal_thread": thread_with("vera", "gleb", %(normal_size)d),
    "anna": session(users["anna"]),
    "vera": session(users["vera"]),
    "anna_id": users["anna"].pk,
}))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--tree", type=Path, default=ROOT, help="source tree to serve")
    add("--processes", type=int, default=2, help="ASGI processes")
    add("--sockets", type=int, default=60, help="flooding sockets of one user")
    add("--seconds", type=float, default=12.6, help="length of the flood")
    add("--sync-sockets", type=int, default=20, help="sockets syncing from 0")
    add("--thread-size", type=int, default=17_218, help="messages to replay")
    add("--sync-seconds", type=float, default=30, help="longest the storm may run, in seconds")
    add("--label", default="", help="name of the run in the output")
    return parser.parse_args()


def count_saved(env: dict[str, str], thread_id: int, user_id: int) -> int:
    import psycopg

    query = "SELECT COUNT(*) FROM privatemessages_message WHERE thread_id = %s AND sender_id = %s"
    with psycopg.connect(env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute(query, [thread_id, user_id]).fetchone()[0]


# --- the clients ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def chat_socket(port: int, thread_id: int, session_key: str):
    async with connect(
        f"ws://{HOST}:{port}/ws/messages/{thread_id}/",
        origin=f"http://{HOST}:{port}",
        additional_headers={"Cookie": f"sessionid={session_key}"},
        open_timeout=20,
        close_timeout=2,
        max_queue=None,
    ) as ws:
        yield ws


async def flood_one(port: int, data: dict, number: int, seconds: float, stats: Counter) -> None:
    """Send as fast as the per-connection bucket allows, for *seconds*; count the answers."""
    try:
        async with chat_socket(port, data["flood_thread"], data["anna"]) as ws:

            async def read() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame["type"] == "error":
                            stats[f"error {frame['code']}"] += 1

            reader = asyncio.create_task(read())
            # The first frames tell an accepted socket from a refused one.
            await asyncio.sleep(0.5)
            if ws.close_code is not None:
                stats[f"sockets closed with {ws.close_code}"] += 1
                return
            stats["sockets accepted"] += 1
            tokens, last = float(WS_BURST), time.monotonic()
            deadline = last + seconds
            sent = 0
            while (now := time.monotonic()) < deadline:
                tokens = min(WS_BURST, tokens + (now - last) * WS_RATE)
                last = now
                if tokens < 1:
                    await asyncio.sleep((1 - tokens) / WS_RATE)
                    continue
                tokens -= 1
                frame = {"type": "message", "text": f"флуд {number}.{sent}"}
                try:
                    await ws.send(json.dumps(frame | {"client_id": f"f{number}-{sent}"}))
                except ConnectionClosed:
                    break
                sent += 1
            stats["messages sent"] += sent
            await asyncio.sleep(1)  # the last answers
            reader.cancel()
    except (OSError, WebSocketException, TimeoutError) as error:
        stats[f"sockets failed: {type(error).__name__}"] += 1


async def sync_from_zero(port: int, thread_id: int, session_key: str, deadline: float) -> dict:
    """Sync *thread_id* from 0 as chat.js does, until done or *deadline*; count the frames."""
    result = {"messages": 0, "synced": 0, "held": 0, "done": False, "close_code": None}
    try:
        async with chat_socket(port, thread_id, session_key) as ws:
            await ws.send(json.dumps({"type": "sync", "after": 0}))
            while time.monotonic() < deadline:
                try:
                    async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                        frame = json.loads(await ws.recv())
                except TimeoutError:
                    break
                if frame["type"] == "message":
                    result["messages"] += 1
                elif frame["type"] == "synced":
                    result["synced"] += 1
                    result["held"] += "retry_after" in frame
                    if not frame["more"]:
                        result["done"] = True
                        break
                    await ws.send(json.dumps({"type": "sync", "after": frame["last_id"]}))
    except ConnectionClosed as closed:
        result["close_code"] = closed.rcvd.code if closed.rcvd else None
    except (OSError, WebSocketException, TimeoutError) as error:
        result["error"] = type(error).__name__
    return result


async def normal_page(port: int, data: dict) -> float:
    """Vera opens her chat and syncs it from 0 (one page): seconds until it is shown."""
    started = time.perf_counter()
    await sync_from_zero(port, data["normal_thread"], data["vera"], time.monotonic() + 60)
    return time.perf_counter() - started


async def normal_pages(port: int, data: dict, stop: asyncio.Event, every: float) -> list[float]:
    """normal_page every *every* seconds until *stop*."""
    times = []
    while not stop.is_set():
        times.append(await normal_page(port, data))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return times


def summary(times: list[float]) -> dict:
    ms = [round(1000 * t, 1) for t in times]
    summary = {"pages": len(ms), "p50_ms": percentile(ms, 0.5), "p95_ms": percentile(ms, 0.95)}
    return summary | {"max_ms": max(ms, default=None)}


async def attack(args: argparse.Namespace, env: dict[str, str], data: dict, ports: list[int]):
    results: dict = {}

    # 1. The send flood.
    stats: Counter = Counter()

    async def count() -> int:
        return await asyncio.to_thread(count_saved, env, data["flood_thread"], data["anna_id"])

    first = await count()  # the thread's first message

    async def saved_when_sending_stops() -> int:
        # Each socket sends from half a second after it connects, for --seconds.
        await asyncio.sleep(0.5 + args.seconds)
        return await count() - first

    started = time.monotonic()
    flood = (
        flood_one(ports[n % len(ports)], data, n, args.seconds, stats) for n in range(args.sockets)
    )
    in_window, *_ = await asyncio.gather(saved_when_sending_stops(), *flood)
    # What the server had taken in but not yet saved when the sending stopped.
    saved, quiet_since = await count() - first, time.monotonic()
    while time.monotonic() - quiet_since < 2 and time.monotonic() - started < 180:
        await asyncio.sleep(0.5)
        now = await count() - first
        if now != saved:
            saved, quiet_since = now, time.monotonic()
    results["flood"] = {
        "sockets": args.sockets,
        "seconds": args.seconds,
        **dict(sorted(stats.items())),
        "messages saved while sending": in_window,
        "saved per second while sending": round(in_window / args.seconds, 1),
        "messages saved in all (backlog included)": saved,
        "seconds until the server was done": round(quiet_since - started, 1),
    }
    await asyncio.sleep(2)  # the flood's sockets are gone before the storm

    # 2. The catch-up storm, and a normal user meanwhile.
    stop = asyncio.Event()
    baseline = [await normal_page(ports[-1], data) for _ in range(5)]
    normal = asyncio.create_task(normal_pages(ports[-1], data, stop, 0.5))
    started = time.monotonic()
    deadline = started + args.sync_seconds
    big, anna = data["big_thread"], data["anna"]
    syncs = (
        sync_from_zero(ports[n % len(ports)], big, anna, deadline)
        for n in range(args.sync_sockets)
    )
    storm = await asyncio.gather(*syncs)
    storm_time = time.monotonic() - started
    stop.set()
    during = await normal
    replayed = sum(one["messages"] for one in storm)
    failures = [str(one.get("error") or one["close_code"] or "") for one in storm]
    results["storm"] = {
        "sockets": args.sync_sockets,
        "thread messages": args.thread_size,
        "frames replayed": replayed,
        "of a full replay": f"{replayed / (args.sync_sockets * args.thread_size):.1%}",
        "sockets done": sum(one["done"] for one in storm),
        "synced answers held (retry_after)": sum(one["held"] for one in storm),
        "seconds": round(storm_time, 1),
        "replayed per second": round(replayed / storm_time, 1),
        "normal page before (300 messages)": summary(baseline),
        "normal page during": summary(during),
        "sockets failed": dict(Counter(filter(None, failures))),
    }
    return results


def main() -> int:
    args = parse_args()
    tree = args.tree.resolve()
    # bench_settings lifts the per-connection limit for the throughput ladder; an attacker
    # gets the deployed one.
    limits = {"PRIVATEMESSAGES_WS_RATE": str(WS_RATE), "PRIVATEMESSAGES_WS_BURST": str(WS_BURST)}
    env = site_env(tree, "chat_sockets", "BENCH_SOCKETS_DATABASE_URL", **limits)
    label = args.label or tree.name
    print(f"chat_sockets [{label}]: preparing the database ({args.thread_size} messages)…")
    script = FIXTURES % {"thread_size": args.thread_size, "normal_size": NORMAL_THREAD_SIZE}
    data = json.loads(prepare_site(env, tree, script).strip().splitlines()[-1])
    with site(env, tree, args.processes, f"chat_sockets-{label}") as servers:
        seconds = args.seconds + args.sync_seconds + 120
        ports = [server.port for server in servers]
        results = asyncio.run(asyncio.wait_for(attack(args, env, data, ports), seconds))
    output = {"label": label, "tree": str(tree), "processes": args.processes, **results}
    print(json.dumps(output, ensure_ascii=False, indent=2))
    path = RESULTS / f"chat_sockets-{label}.json"
    path.write_text(json.dumps(output, ensure_ascii=False, indent=2))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
