"""
The delivery path and idle memory: N sockets open on one thread (many tabs of
its two participants) and one more socket sending; server CPU per delivered
message, for ours, the peer and the ceiling. Also server RSS per idle socket.

    python -m bench.chat delivery [--tabs 1000] [--rate 2] [--seconds 10]
"""

import asyncio
import os
import time
from collections import Counter

from .client import LoadClient, Target, percentile
from .env import RESULTS
from .meters import Meters
from .report import print_profile, ratio, table
from .servers import Profiler, server_group

WARM_SOCKETS = 20
COLUMNS = [
    ("kind", "server"),
    ("tabs", "sockets"),
    ("rss_kb_per_idle_socket", "idle KB/socket"),
    ("sent", "sent"),
    ("deliveries", "delivered"),
    ("lost", "lost"),
    ("duplicated", "dup"),
    ("deliveries_per_s", "deliv/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("server_cpu_pct", "srv CPU%"),
    ("server_sys_share", "sys"),
    ("cpu_us_per_delivery", "µs/delivery"),
    ("cpu_us_per_frame", "µs/frame"),
    ("redis_cpu_pct", "redis%"),
    ("client_cpu_pct", "client%"),
]


def add_arguments(parser) -> None:
    group = parser.add_argument_group("delivery path and memory")
    group.add_argument("--tabs", type=int, help="sockets on the one thread (default 1000)")
    group.add_argument(
        "--rate", type=float, default=2.0, help="messages/s from the one sender (default 2)"
    )
    group.add_argument("--seconds", type=float, help="sending time (default 10)")


def defaults(args) -> None:
    if args.tabs is None:
        args.tabs = 200 if args.quick else 1000
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 10.0


def prepare(args) -> dict:
    from django.db import connections

    from . import fixtures

    a, b = fixtures.bench_users(2, prefix="bench_tab")
    (thread,) = fixtures.pair_threads([a, b])
    fixtures.clear_messages([thread])
    connections.close_all()
    return {"users": [a, b], "thread": thread}


def targets_for(kind: str, ports: list[int], data: dict, tabs: int) -> list[Target]:
    """*tabs* receiving sockets, alternating between the two users, then the sender."""
    a, b = data["users"]
    thread = data["thread"]
    targets = []
    for i in range(tabs + 1):
        # The ceiling has no broker: one room lives in one process.
        port = ports[0] if kind == "ceiling" else ports[i % len(ports)]
        user = a if i % 2 == 0 or i == tabs else b
        targets.append(Target.chat(port, thread, user.session_key))
    return targets


async def run_server(kind: str, args, env: dict, data: dict) -> dict:
    out: dict = {"kind": kind, "procs": args.procs}
    group = server_group(kind, args, env)
    client = LoadClient()
    try:
        group.start()
        targets = targets_for(kind, group.ports, data, args.tabs)
        receivers, sender_target = targets[:-1], targets[-1]
        warm = min(WARM_SOCKETS, len(receivers))
        # The chat sends live messages to a socket only after its first sync.
        replies = kind == "ours"
        await client.open(receivers[:warm], first=0)
        await client.sync(wait_for_reply=replies)
        await asyncio.sleep(0.5)
        rss_warm = group.rss_bytes()
        await client.open(receivers[warm:], first=warm)
        out["synced"] = await client.sync(wait_for_reply=replies)
        await asyncio.sleep(1.5)
        rss_idle = group.rss_bytes()
        tabs = len(client.sockets)
        out["tabs"] = tabs
        out["connect_failures"] = dict(client.connect_failures)
        out["connect_errors"] = dict(client.connect_errors)
        out["connect_retries"] = client.connect_retries
        if tabs > warm:
            out["rss_kb_per_idle_socket"] = round((rss_idle - rss_warm) / (tabs - warm) / 1024, 1)
        out["rss_mb_idle"] = round(rss_idle / 2**20, 1)
        senders = await client.open([sender_target], first=len(receivers))
        await client.sync(wait_for_reply=replies)
        if not senders or not tabs:
            out["error"] = "could not connect: " + group.log_tail()
            return out

        # What the servers burn doing nothing, to subtract from the run.
        meters = Meters(group, env)
        meters.start()
        await asyncio.sleep(2.0)
        idle = meters.stop()
        out["idle_cpu_pct"] = round(idle["server_cpu_pct"], 2)

        stats = client.begin_step(0)
        profiler = None
        if args.profile and kind == "ours":
            output = RESULTS / f"pyspy-delivery-{kind}.txt"
            profiler = Profiler(group.pids[0], args.seconds, output)
        meters.start()
        sent = await client.send_at_rate(senders, rate=args.rate, seconds=args.seconds, step=0)
        expected = (sent["sent"] - sent["failed"]) * tabs
        await client.drain(expected, timeout=max(30.0, args.seconds * 3))
        m = meters.stop()
        net_cpu = max(0.0, m["server_cpu"] - idle["server_cpu"] / idle["elapsed"] * m["elapsed"])
        deliveries = len(stats.received)
        per_socket = Counter(receiver for receiver, _, _ in stats.received)
        got = [per_socket.get(sock.index, 0) for sock in client.sockets[:tabs]]
        frames = sum(stats.frames.values())
        latencies = sorted(stats.latencies_ns)
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        out.update(
            sent=sent["sent"],
            deliveries=deliveries,
            lost=expected - deliveries,
            # How the losses spread: sockets that missed some, and that got none.
            sockets_short=sum(1 for n in got if n < sent["sent"]),
            sockets_empty=sum(1 for n in got if n == 0),
            duplicated=stats.duplicates + stats.duplicate_ids,
            frame_types=dict(stats.frames),
            errors=dict(stats.errors),
            deliveries_per_s=deliveries / m["elapsed"],
            p50_ms=p50 / 1e6 if p50 is not None else None,
            p99_ms=p99 / 1e6 if p99 is not None else None,
            server_cpu_s=round(m["server_cpu"], 3),
            server_cpu_net_s=round(net_cpu, 3),
            cpu_us_per_delivery=1e6 * net_cpu / max(1, deliveries),
            cpu_us_per_frame=1e6 * net_cpu / max(1, frames),
            **{k: v for k, v in m.items() if k != "server_cpu"},
        )
        if profiler:
            out["profile"] = profiler.finish()
        print(
            f"[{kind}] {deliveries} deliveries ({out['lost']} lost) "
            f"{out['cpu_us_per_delivery']:.1f} µs CPU each, "
            f"idle {out.get('rss_kb_per_idle_socket')} KB/socket",
            flush=True,
        )
    finally:
        await client.close()
        group.stop()
    return out


async def run(args, env: dict, data: dict) -> dict:
    results = {
        "workload": "chat-delivery",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "params": {
            "tabs": args.tabs,
            "procs": args.procs,
            "server": args.server,
            "ours_env": args.ours_env,
            "rate": args.rate,
            "seconds": args.seconds,
        },
        "servers": {},
    }
    for kind in args.kinds:
        print(f"== delivery path: {kind} ({args.tabs} sockets on one thread)", flush=True)
        try:
            results["servers"][kind] = await run_server(kind, args, env, data)
        except Exception as exc:
            results["servers"][kind] = {"kind": kind, "error": repr(exc)}
            print(f"[{kind}] failed: {exc!r}", flush=True)
    results["loadavg_end"] = os.getloadavg()
    s = results["servers"]

    def get(kind, key):
        return s.get(kind, {}).get(key)

    results["ratios"] = {
        "cpu_per_delivery_ours_to_peer": ratio(
            get("ours", "cpu_us_per_delivery"), get("peer", "cpu_us_per_delivery")
        ),
        "cpu_per_delivery_ours_to_ceiling": ratio(
            get("ours", "cpu_us_per_delivery"), get("ceiling", "cpu_us_per_delivery")
        ),
        "idle_rss_ours_to_peer": ratio(
            get("ours", "rss_kb_per_idle_socket"), get("peer", "rss_kb_per_idle_socket")
        ),
    }
    return results


def print_tables(results: dict) -> None:
    print()
    print("delivery path (one sender, many sockets on one thread)")
    rows = list(results["servers"].values())
    print(table(rows, COLUMNS))
    for row in rows:
        if row.get("connect_errors"):
            print(
                f"  {row['kind']}: handshake errors {row['connect_errors']}, "
                f"retries {row['connect_retries']}, given up {row.get('connect_failures')}"
            )
        if row.get("error"):
            print(f"  {row['kind']}: {row['error'][:2000]}")
    print(f"ratios: {results['ratios']}")
    for row in rows:
        print_profile(f"delivery path, {row['kind']}", row.get("profile"))
