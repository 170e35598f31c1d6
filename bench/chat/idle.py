"""
Idle tabs: N chat sockets of M users (ours as deployed, P processes), open and doing nothing,
for --seconds: as chat.js, which sends nothing to keep a socket alive (the server visits each
socket every 25 s, privatemessages/keepalive.py); with --heartbeat S, as older clients did, a
sync every S seconds as well. What they cost: the time to connect them all, server RSS and
CPU, the database's transactions and Redis's commands per second (and the same before any tab
was open, to compare).
"""

import asyncio
import resource
import time

from bench.common import table

from . import fixtures, servers
from .client import connect_all, print_notes
from .servers import Meters

COLUMNS = [
    *(("kind", "server"), ("sockets", "tabs"), ("connect_seconds", "connect s")),
    *(("rss_mb_idle", "RSS MB"), ("rss_kb_per_idle_socket", "KB/tab")),
    *(("server_cpu_pct", "srv CPU%"), ("db_xact_per_s", "db xact/s")),
    *(("redis_cmd_per_s", "redis cmd/s"), ("frame_types", "frames received")),
]


def prepare(args) -> dict:
    args.tabs = args.tabs or (200 if args.quick else 1000)
    args.idle_seconds = args.seconds or (10.0 if args.quick else 30.0)
    # A socket per tab for the client and for each server: raise the soft limit, which the
    # servers inherit.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * args.tabs + 4096), hard))
    keys, threads = fixtures.pairs(args.users or max(2, args.tabs // 5), prefix="bench_idle")
    return {"keys": keys, "threads": threads}


async def run_server(kind: str, args, env: dict, data: dict, group, client) -> dict:
    meters = Meters(group)  # the servers, the database and Redis before any tab
    meters.start()
    await asyncio.sleep(3)
    before = meters.stop()
    # Tab i is user i % M's, on its thread with its partner; the ports round-robin.
    keys, threads, ports = data["keys"], data["threads"], group.ports
    targets = [
        (ports[i % len(ports)], threads[i % len(keys) // 2], keys[i % len(keys)])
        for i in range(args.tabs)
    ]
    out = await connect_all(client, group, targets) | {"users": len(keys)}
    stats = client.begin_step(0)
    beat = asyncio.create_task(client.heartbeat(args.heartbeat)) if args.heartbeat else None
    # PostgreSQL counts a backend's transactions late (seconds after a busy spell): let the
    # handshakes' land before the window opens.
    await settle(group.env)
    meters.start()
    await asyncio.sleep(args.idle_seconds)
    out |= meters.stop()
    if beat:
        beat.cancel()
    out["frame_types"] = dict(stats.frames)
    out["disconnects"] = client.closed
    figures = ("server_cpu_pct", "db_xact_per_s", "redis_cmd_per_s")
    out["before_tabs"] = {key: round(before[key], 2) for key in figures}
    print(f"[{kind}] {out['sockets']} tabs idle {out['elapsed']:.0f} s", flush=True)
    return out


async def settle(env: dict[str, str], quiet: float = 3.0, longest: float = 60.0) -> None:
    """
    Wait until the bench database's transaction count has not moved for *quiet* seconds
    (at least 10 s, at most *longest*): what the connections' first syncs did is then
    counted before the window opens. Work that goes on (a heartbeat's reads) keeps the
    count moving, waits *longest*, and shows in the window as it should.
    """
    started = time.monotonic()
    last, still_since = None, started
    while time.monotonic() - started < longest:
        count = (await asyncio.to_thread(servers.counters, env))["db_xacts"]
        if last is None or count - last > 1:  # each reading is a transaction of its own
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since >= quiet and time.monotonic() - started >= 10:
            return
        await asyncio.sleep(0.5)


def print_tables(results: dict) -> None:
    every = results["params"]["heartbeat"]
    print(f"\nidle tabs: {f'a heartbeat sync every {every} s' if every else 'no heartbeat'}")
    print(table(list(results["servers"].values()), COLUMNS))
    for kind, row in results["servers"].items():
        print_notes(kind, row)
        print(
            f"  {kind} before any tab: {row.get('before_tabs')}; closed: {row.get('disconnects')}"
        )
        print(f"  {kind} Redis commands/s by name: {row.get('redis_top_per_s')}")
