"""
The delivery path and idle memory: N sockets open on one thread (many tabs of its two
participants) and one more socket sending; server CPU per delivered message, net of the
servers' idle CPU, for ours, the peer and the ceiling. Also server RSS per idle socket.
"""

import asyncio

from bench.common import ratio, table

from . import fixtures
from .client import connect_all, print_notes
from .servers import Meters

COLUMNS = [
    *(("kind", "server"), ("sockets", "sockets"), ("rss_kb_per_idle_socket", "idle KB/socket")),
    *(("sent", "sent"), ("deliveries", "delivered"), ("lost", "lost"), ("duplicated", "dup")),
    *(("deliveries_per_s", "deliv/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")),
    *(("server_cpu_pct", "srv CPU%"), ("server_sys_share", "sys")),
    *(("cpu_us_per_delivery", "µs/delivery"), ("redis_cmd_per_s", "redis cmd/s")),
    ("client_cpu_pct", "client%"),
]


def prepare(args) -> dict:
    args.tabs = args.tabs or (200 if args.quick else 1000)
    args.send_seconds = args.seconds or (3.0 if args.quick else 10.0)
    keys, threads = fixtures.pairs(2, prefix="bench_tab")
    return {"keys": keys, "thread": threads[0]}


async def run_server(kind: str, args, env: dict, data: dict, group, client) -> dict:
    # *tabs* receiving sockets, alternating between the two users, then the sender (the
    # first user's); the ceiling has no broker, so one room lives in one process.
    ports = group.ports[:1] if kind == "ceiling" else group.ports
    targets = [
        (ports[i % len(ports)], data["thread"], data["keys"][i % 2 if i < args.tabs else 0])
        for i in range(args.tabs + 1)
    ]
    out = await connect_all(client, group, targets[:-1])
    tabs = len(client.sockets)
    await client.open(targets[-1:], first=args.tabs)
    await client.sync(wait_for_reply=kind == "ours")
    if args.tabs not in client.sockets or not tabs:
        raise RuntimeError("could not connect: " + group.log_tail())

    meters = Meters(group)  # what the servers burn doing nothing, to subtract
    meters.start()
    await asyncio.sleep(2.0)
    idle = meters.stop()
    stats = client.begin_step(0)
    meters.start()
    sent = await client.send_at_rate([args.tabs], rate=args.rate, seconds=args.send_seconds)
    expected = (sent["sent"] - sent["failed"]) * tabs
    await client.drain(expected, timeout=max(30.0, args.send_seconds * 3))
    m = meters.stop()
    net_cpu = max(0.0, m["server_cpu"] - idle["server_cpu"] / idle["elapsed"] * m["elapsed"])
    deliveries = len(stats.received)
    out.update(m, **stats.figures(), idle_cpu_pct=round(idle["server_cpu_pct"], 2))
    out.update(sent=sent["sent"], deliveries=deliveries, lost=expected - deliveries)
    out["deliveries_per_s"] = deliveries / m["elapsed"]
    out["cpu_us_per_delivery"] = 1e6 * net_cpu / max(1, deliveries)
    print(
        f"[{kind}] {deliveries} deliveries ({out['lost']} lost) "
        f"{out['cpu_us_per_delivery']:.1f} µs CPU each, "
        f"idle {out.get('rss_kb_per_idle_socket')} KB/socket",
        flush=True,
    )
    return out


def summarize(results: dict) -> None:
    ours = results["servers"].get("ours", {})
    results["ratios"] = {
        f"{key}_ours_to_{kind}": ratio(ours.get(key), results["servers"][kind].get(key))
        for key in ("cpu_us_per_delivery", "rss_kb_per_idle_socket")
        for kind in ("peer", "ceiling")
        if kind in results["servers"]
    }


def print_tables(results: dict) -> None:
    print("\ndelivery path (one sender, many sockets on one thread)")
    print(table(list(results["servers"].values()), COLUMNS))
    for kind, row in results["servers"].items():
        print_notes(kind, row)
    print(f"ratios: {results['ratios']}")
