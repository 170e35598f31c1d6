"""
Many tabs per user: P pairs of users (20), each pair in a thread, sending --rate messages/s
in all (100), first with one chat socket per user, then with --tabs sockets per user (50),
in one run of the same server processes. Server CPU (net of idle) per delivered message:
every socket of both users, the sender's own included, gets every message of the thread.
The ratio of the two steps' µs per delivery is the issue's target (50 tabs ≤ 1.5 × one tab).
"""

import asyncio
import resource
from collections import Counter

from bench.common import fmt, ratio, table

from . import fixtures
from .client import connect_all, print_notes
from .servers import Meters

SETTLE = 2.0  # seconds between the steps, and of idle CPU before each
TARGET = 1.5  # µs per delivery, many tabs / one tab (the issue's)
COLUMNS = [
    *(("kind", "server"), ("tabs", "tabs/user"), ("sockets", "sockets")),
    *(("connect_seconds", "connect s"), ("rss_kb_per_idle_socket", "KB/socket")),
    *(("sent", "sent"), ("deliveries", "delivered"), ("lost", "lost"), ("duplicated", "dup")),
    *(("deliveries_per_msg", "deliv/msg"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")),
    *(("server_cpu_pct", "srv CPU%"), ("idle_cpu_pct", "idle%"), ("net_cpu_s", "net CPU s")),
    *(("cpu_us_per_delivery", "µs/delivery"), ("cpu_us_per_msg", "µs/msg")),
    *(("redis_cmd_per_s", "redis cmd/s"), ("client_cpu_pct", "client%")),
]


def prepare(args) -> dict:
    pairs = max(1, (args.users or (10 if args.quick else 40)) // 2)
    args.tabs = args.tabs or (10 if args.quick else 50)
    args.send_seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.tab_steps = [1, args.tabs]
    # A socket per tab for the client and for the servers: raise the soft limit, which the
    # servers inherit.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * pairs * args.tabs + 4096
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    # Users and threads of their own for each step, empty: the second step's sync has
    # nothing of the first's to replay.
    keys, threads = fixtures.pairs(4 * pairs, prefix="bench_tabs")
    return {
        "steps": [
            {
                "keys": keys[2 * pairs * s : 2 * pairs * (s + 1)],
                "threads": threads[pairs * s : pairs * (s + 1)],
            }
            for s in range(len(args.tab_steps))
        ]
    }


def targets_for(kind: str, ports: list[int], data: dict, tabs: int) -> tuple[list, list[int]]:
    """
    Every user's *tabs* sockets on the user's thread, the users' first tabs first (they send),
    and those indexes. Ours and the peer get the ports round-robin, a user's tabs alternating
    between them and partners' first tabs on different ones; the ceiling has no broker, so a
    thread's sockets share a port.
    """
    keys, threads, targets = data["keys"], data["threads"], []
    for tab in range(tabs):
        for user, key in enumerate(keys):
            port = ports[(user // 2 if kind == "ceiling" else user + tab) % len(ports)]
            targets.append((port, threads[user // 2], key))
    return targets, list(range(len(keys)))


async def run_step(kind: str, args, group, client, data: dict, step: int, tabs: int) -> dict:
    targets, senders = targets_for(kind, group.ports, data, tabs)
    out = {"kind": kind, "tabs": tabs, "users": len(data["keys"])}
    out |= await connect_all(client, group, targets, warm=min(20, len(targets) // 2))
    if set(senders) - set(client.sockets):
        raise RuntimeError(f"{tabs} tabs: a sender did not connect: " + group.log_tail())

    meters = Meters(group)  # what the servers burn doing nothing, to subtract
    meters.start()
    await asyncio.sleep(SETTLE)
    idle = meters.stop()
    closed_before = client.closed
    stats = client.begin_step(step)
    meters.start()
    sent = await client.send_at_rate(senders, rate=args.rate, seconds=args.send_seconds)
    accepted = sent["sent"] - sent["failed"]
    # Every message: every socket of its thread but the sender's (the client's own count);
    # the sender's socket gets it back too (its echo, not counted by the client: the
    # step's message frames less the others).
    thread_of = {index: target[1] for index, target in enumerate(targets)}
    per_thread = Counter(thread_of[index] for index in client.sockets)
    others_per_msg = sum(per_thread[thread_of[s]] - 1 for s in senders) / len(senders)
    expected_others = round(accepted * others_per_msg)
    await client.drain(expected_others, timeout=max(30.0, args.send_seconds * 3))
    m = meters.stop()
    net_cpu = max(0.0, m["server_cpu"] - idle["server_cpu"] / idle["elapsed"] * m["elapsed"])
    others, echoes = len(stats.received), stats.frames["message"] - stats.received.total()
    deliveries = others + echoes
    out.update(m, **stats.figures(), idle_cpu_pct=idle["server_cpu_pct"])
    out.update(sent=sent["sent"], failed=sent["failed"], deliveries=deliveries, echoes=echoes)
    out["lost"] = expected_others - others + accepted - echoes
    out["disconnects"] = client.closed - closed_before
    out["net_cpu_s"] = net_cpu
    out["deliveries_per_msg"] = deliveries / max(1, accepted)
    out["deliveries_per_s"] = deliveries / m["elapsed"]
    out["cpu_us_per_delivery"] = 1e6 * net_cpu / max(1, deliveries)
    out["cpu_us_per_msg"] = 1e6 * net_cpu / max(1, accepted)
    print(
        f"[{kind}] {tabs} tab(s)/user, {len(client.sockets)} sockets: {sent['sent']} sent, "
        f"{deliveries} deliveries ({out['lost']} lost, {out['duplicated']} dup), "
        f"{out['cpu_us_per_delivery']:.1f} µs CPU each, {out['cpu_us_per_msg']:.0f} per message",
        flush=True,
    )
    return out


async def run_server(kind: str, args, env: dict, data: dict, group, client) -> dict:
    steps = []
    for step, tabs in enumerate(args.tab_steps):
        if step:  # the previous step's sockets go, and the servers settle
            await client.close()
            await asyncio.sleep(SETTLE)
        steps.append(await run_step(kind, args, group, client, data["steps"][step], step, tabs))
        if not group.alive():
            raise RuntimeError("a server process died: " + group.log_tail())
    one, many = steps[0], steps[-1]
    out = {"steps": steps}
    out["ratio_us_per_delivery"] = ratio(many["cpu_us_per_delivery"], one["cpu_us_per_delivery"])
    # What one more delivery costs: the per-message cost's growth over the deliveries' growth
    # (free of the per-message work that the one-tab figure spreads over two deliveries).
    extra = many["deliveries_per_msg"] - one["deliveries_per_msg"]
    if extra > 0:
        grown = many["cpu_us_per_msg"] - one["cpu_us_per_msg"]
        out["marginal_us_per_delivery"] = round(grown / extra, 1)
    return out


def summarize(results: dict) -> None:
    servers = results["servers"]
    results["ratio_us_per_delivery"] = {
        kind: row.get("ratio_us_per_delivery") for kind, row in servers.items()
    }
    results["marginal_us_per_delivery"] = {
        kind: row.get("marginal_us_per_delivery") for kind, row in servers.items()
    }
    results["target_met"] = {
        kind: value <= TARGET if value is not None else None
        for kind, value in results["ratio_us_per_delivery"].items()
    }


def print_tables(results: dict) -> None:
    tabs = results["params"]["tabs"]
    print(f"\ntabs per user: 1, then {tabs} (server CPU net of idle, per delivered message)")
    rows = [step for row in results["servers"].values() for step in row.get("steps", [])]
    print(table(rows, COLUMNS))
    for kind, row in results["servers"].items():
        print_notes(kind, row)
        for step in row.get("steps", []):
            bad = {k: step.get(k) for k in ("failed", "disconnects", "errors") if step.get(k)}
            if bad or step.get("connect_errors"):
                print(f"  {kind}, {step['tabs']} tabs: {bad} {step.get('connect_errors') or ''}")
        value, target = row.get("ratio_us_per_delivery"), results["target_met"].get(kind)
        print(
            f"  {kind}: µs per delivery, {tabs} tabs / 1 tab = {fmt(value)} "
            f"(target ≤ {TARGET}: {fmt(target)}); one more delivery costs "
            f"{fmt(row.get('marginal_us_per_delivery'))} µs"
        )
