"""
The delivery path and idle memory: N sockets open on one thread (many tabs of its two
participants) and one more socket sending; server CPU per delivered message, net of the
servers' idle CPU, for ours, the peer and the ceiling. Also server RSS per idle socket.
"""

import asyncio
from collections import Counter

from bench.common import RESULTS, Profiler, print_profile, ratio, table

from . import env as fixtures
from .client import connect_all
from .servers import Meters

COLUMNS = [
    *(("kind", "server"), ("sockets", "sockets"), ("rss_kb_per_idle_socket", "idle KB/socket")),
    *(("sent", "sent"), ("deliveries", "delivered"), ("lost", "lost"), ("duplicated", "dup")),
    *(("deliveries_per_s", "deliv/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")),
    *(("server_cpu_pct", "srv CPU%"), ("server_sys_share", "sys")),
    *(("cpu_us_per_delivery", "µs/delivery"), ("cpu_us_per_frame", "µs/frame")),
    *(("redis_cpu_pct", "redis%"), ("client_cpu_pct", "client%")),
]


def add_arguments(parser) -> None:
    group = parser.add_argument_group("delivery path and memory")
    group.add_argument("--tabs", type=int, help="sockets on the one thread (default 1000)")
    group.add_argument("--rate", type=float, default=2.0, help="messages/s from the one sender")
    group.add_argument("--seconds", type=float, help="sending time (default 10)")


def prepare(args) -> dict:
    args.tabs = args.tabs or (200 if args.quick else 1000)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    users = fixtures.bench_users(2, prefix="bench_tab")
    return {"users": users, "thread": fixtures.pair_threads(users)[0]}


def params(args) -> dict:
    return {"tabs": args.tabs, "rate": args.rate, "seconds": args.seconds}


async def run_server(kind: str, args, env: dict, data: dict, group, client) -> dict:
    # *tabs* receiving sockets, alternating between the two users, then the sender; the
    # ceiling has no broker, so one room lives in one process.
    a, b = data["users"]
    ports = group.ports[:1] if kind == "ceiling" else group.ports
    targets = [
        (
            ports[i % len(ports)],
            data["thread"],
            (a if i % 2 == 0 or i == args.tabs else b).session_key,
        )
        for i in range(args.tabs + 1)
    ]
    out = await connect_all(client, group, targets[:-1], kind)
    tabs = len(client.sockets)
    await client.open(targets[-1:], first=args.tabs)
    await client.sync(wait_for_reply=kind == "ours")
    if args.tabs not in client.sockets or not tabs:
        raise RuntimeError("could not connect: " + group.log_tail())

    meters = Meters(group, env)  # what the servers burn doing nothing, to subtract
    meters.start()
    await asyncio.sleep(2.0)
    idle = meters.stop()
    stats = client.begin_step(0)
    spy = None
    if args.profile and kind == "ours":
        spy = Profiler(group.pids[0], args.seconds, RESULTS / f"pyspy-delivery-{kind}.txt")
    meters.start()
    sent = await client.send_at_rate([args.tabs], rate=args.rate, seconds=args.seconds)
    expected = (sent["sent"] - sent["failed"]) * tabs
    await client.drain(expected, timeout=max(30.0, args.seconds * 3))
    m = meters.stop()
    net_cpu = max(0.0, m["server_cpu"] - idle["server_cpu"] / idle["elapsed"] * m["elapsed"])
    deliveries, frames = len(stats.received), sum(stats.frames.values())
    per_socket = Counter(receiver for receiver, _, _ in stats.received)
    got = [per_socket.get(index, 0) for index in client.sockets if index != args.tabs]
    out.update(
        m,
        **stats.figures(),
        idle_cpu_pct=round(idle["server_cpu_pct"], 2),
        sent=sent["sent"],
        deliveries=deliveries,
        lost=expected - deliveries,
        # How the losses spread: sockets that missed some, and that got none.
        sockets_short=sum(1 for n in got if n < sent["sent"]),
        sockets_empty=sum(1 for n in got if n == 0),
        deliveries_per_s=deliveries / m["elapsed"],
        server_cpu_net_s=round(net_cpu, 3),
        cpu_us_per_delivery=1e6 * net_cpu / max(1, deliveries),
        cpu_us_per_frame=1e6 * net_cpu / max(1, frames),
        profile=spy.finish() if spy else None,
    )
    print(
        f"[{kind}] {deliveries} deliveries ({out['lost']} lost) "
        f"{out['cpu_us_per_delivery']:.1f} µs CPU each, "
        f"idle {out.get('rss_kb_per_idle_socket')} KB/socket",
        flush=True,
    )
    return out


def summarize(results: dict) -> None:
    def get(kind: str, key: str) -> float | None:
        return results["servers"].get(kind, {}).get(key)

    per, rss = "cpu_us_per_delivery", "rss_kb_per_idle_socket"
    results["ratios"] = {
        "cpu_per_delivery_ours_to_peer": ratio(get("ours", per), get("peer", per)),
        "cpu_per_delivery_ours_to_ceiling": ratio(get("ours", per), get("ceiling", per)),
        "idle_rss_ours_to_peer": ratio(get("ours", rss), get("peer", rss)),
    }


def print_tables(results: dict) -> None:
    print("\ndelivery path (one sender, many sockets on one thread)")
    rows = list(results["servers"].values())
    print(table(rows, COLUMNS))
    for row in rows:
        if row.get("connect_errors"):
            print(
                f"  {row['kind']}: handshake errors {row['connect_errors']}, "
                f"retries {row['connect_retries']}, given up {row['connect_failures']}"
            )
        if row.get("error"):
            print(f"  {row['kind']}: {row['error'][:2000]}")
        print_profile(f"delivery path, {row['kind']}", row.get("profile"))
    print(f"ratios: {results['ratios']}")
