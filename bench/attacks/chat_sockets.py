"""
One user, many chat sockets: a send flood and a catch-up storm against real
server processes. Prints figures; asserts nothing; loopback only; bounded in
time.

    .venv/bin/python bench/attacks/chat_sockets.py [--tree PATH] [--processes 2]
        [--sockets 60] [--seconds 12.6] [--sync-sockets 20] [--thread-size 17218]
        [--sync-seconds 30]

The site runs as deploy/cluster.py runs each of its processes (uvicorn,
deploy.asgi), --processes of them, from the source tree --tree (default: this
one; give a ``git worktree`` of another commit to compare), with the bench's
deployed settings (bench/chat/bench_settings.py: DEBUG off) but the
per-connection frame limit at its default (10/s, burst 20), PostgreSQL and
Redis. The run's database (dropped and made again from --tree's migrations)
is BENCH_SOCKETS_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/bench_chat_sockets; Redis is
BENCH_REDIS_URL, default redis://127.0.0.1:6379/0, under a fresh key prefix
whose keys are deleted at the end.

1. Send flood: --sockets chat sockets of one user ("anna"), spread over the
   processes, each sending messages as fast as the per-connection limit lets
   it (a client-side token bucket of 10/s, burst 20) for --seconds. Prints the
   sockets accepted and refused (close code), messages sent, refused (by error
   code) and saved (counted in the database): by the time the sending stopped,
   and in all once the server has worked off what it had taken in.
2. Catch-up storm: --sync-sockets sockets of anna each syncing a thread of
   --thread-size messages from 0, asking again at once on every "more" (as
   chat.js does), for at most --sync-seconds. Meanwhile another user ("vera")
   syncs her own thread of 300 messages from 0 every half second. Prints the
   message frames replayed, the sockets that finished, and vera's time per
   page before and during the storm.

Figures are saved as JSON in bench/results/.
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.attacks.services import (  # noqa: E402
    HOST,
    admin_url,
    delete_redis_keys,
    drop_database,
    start_server,
    stop_server,
)
from deploy.processes import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_chat_sockets"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_KEY = "bench-only-secret-key-not-for-any-real-site-chat-sockets-0123456789"
# The per-connection limit's defaults (myproject/settings.py), which the
# flooding client keeps to: "as fast as allowed".
WS_RATE = 10.0
WS_BURST = 20
NORMAL_THREAD_SIZE = 300

# Run in --tree's Django (its models, its migrations): users, one session
# each, the threads and their stored messages. Prints one JSON line.
FIXTURES = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from privatemessages.models import Message
from privatemessages.services import thread_get_or_create_for_pair

User = get_user_model()
users = {}
for name in ("anna", "boris", "carol", "vera", "gleb"):
    user = User(username=name)
    user.set_unusable_password()
    user.save()
    users[name] = user

def session(user):
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key

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
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree to serve")
    parser.add_argument("--processes", type=int, default=2, help="ASGI processes")
    parser.add_argument("--sockets", type=int, default=60, help="flooding sockets of one user")
    parser.add_argument("--seconds", type=float, default=12.6, help="length of the flood")
    parser.add_argument("--sync-sockets", type=int, default=20, help="sockets syncing from 0")
    parser.add_argument("--thread-size", type=int, default=17_218, help="messages to replay")
    parser.add_argument(
        "--sync-seconds", type=float, default=30, help="longest the storm may run, in seconds"
    )
    parser.add_argument("--label", default="", help="name of the run in the output")
    return parser.parse_args()


# --- the site ---------------------------------------------------------------------


def site_env(tree: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "DJANGO_", "REDIS_", "PRIVATEMESSAGES_"))
    }
    env.update(
        DATABASE_URL=os.environ.get("BENCH_SOCKETS_DATABASE_URL", DEFAULT_DATABASE_URL),
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        REDIS_KEY_PREFIX=f"bench-sockets-{secrets.token_hex(4)}:",
        SECRET_KEY=SECRET_KEY,
        DJANGO_SETTINGS_MODULE="bench.chat.bench_settings",
        # bench_settings lifts the per-connection limit for the throughput
        # ladder; an attacker gets the deployed one.
        PRIVATEMESSAGES_WS_RATE=str(WS_RATE),
        PRIVATEMESSAGES_WS_BURST=str(WS_BURST),
        PYTHONPATH=str(tree),
        PYTHONDONTWRITEBYTECODE="1",
        STATIC_ROOT=str(RESULTS / "static"),
        LOG_LEVEL="WARNING",
    )
    return env


def recreate_database(env: dict[str, str], tree: Path, thread_size: int) -> dict:
    """Drop and create the run's database, migrate it with *tree*'s code, add the data."""
    import psycopg

    maintenance, name = admin_url(env["DATABASE_URL"])
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=tree, env=env, check=True)
    script = FIXTURES % {"thread_size": thread_size, "normal_size": NORMAL_THREAD_SIZE}
    out = subprocess.run(
        [*manage, "shell", "-c", script],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def count_saved(env: dict[str, str], thread_id: int, user_id: int) -> int:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM privatemessages_message WHERE thread_id = %s AND sender_id = %s",
            [thread_id, user_id],
        ).fetchone()
    return row[0]


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
                frame = {
                    "type": "message",
                    "text": f"флуд {number}.{sent}",
                    "client_id": f"f{number}-{sent}",
                }
                try:
                    await ws.send(json.dumps(frame))
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
    async with chat_socket(port, data["normal_thread"], data["vera"]) as page:
        await page.send(json.dumps({"type": "sync", "after": 0}))
        while True:
            frame = json.loads(await page.recv())
            if frame["type"] == "synced" and not frame["more"]:
                break
            if frame["type"] == "synced":
                await page.send(json.dumps({"type": "sync", "after": frame["last_id"]}))
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
    if not times:
        return {}
    ordered = sorted(times)
    return {
        "pages": len(times),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(1000 * ordered[-1], 1),
    }


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
    in_window, _ = await asyncio.gather(
        saved_when_sending_stops(),
        asyncio.gather(
            *(
                flood_one(ports[n % len(ports)], data, n, args.seconds, stats)
                for n in range(args.sockets)
            )
        ),
    )
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
    storm = await asyncio.gather(
        *(
            sync_from_zero(ports[n % len(ports)], data["big_thread"], data["anna"], deadline)
            for n in range(args.sync_sockets)
        )
    )
    storm_time = time.monotonic() - started
    stop.set()
    during = await normal
    replayed = sum(one["messages"] for one in storm)
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
        "sockets failed": dict(
            Counter(
                str(one.get("error") or one["close_code"])
                for one in storm
                if one.get("error") or one["close_code"]
            )
        ),
    }
    return results


def main() -> int:
    args = parse_args()
    tree = args.tree.resolve()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "static").mkdir(exist_ok=True)
    env = site_env(tree)
    label = args.label or tree.name
    print(f"chat_sockets [{label}]: preparing the database ({args.thread_size} messages)…")
    data = recreate_database(env, tree, args.thread_size)
    servers = []
    try:
        ports = [free_port() for _ in range(args.processes)]
        for port in ports:
            log = RESULTS / f"chat_sockets-{label}-{port}.log"
            servers.append(start_server(env, tree, port, log))
        results = asyncio.run(
            asyncio.wait_for(
                attack(args, env, data, ports), args.seconds + args.sync_seconds + 120
            )
        )
    finally:
        for process in servers:
            stop_server(process)
        delete_redis_keys(env)
        drop_database(env)
    output = {"label": label, "tree": str(tree), "processes": args.processes, **results}
    print(json.dumps(output, ensure_ascii=False, indent=2))
    path = RESULTS / f"chat_sockets-{label}.json"
    path.write_text(json.dumps(output, ensure_ascii=False, indent=2))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
