"""
The chat mix: U users in U/2 two-person threads, one socket each, every user sending at a
fixed rate, the rate laddered up; against ours, the peer and the ceiling in turn.
"""

import asyncio
import random

from asgiref.sync import sync_to_async

from bench.common import fmt, ratio, table

from . import fixtures
from .client import connect_all, print_notes
from .servers import Meters

# Doubling from a rate every server here sustains; each server stops climbing after its
# first unclean step.
DEFAULT_RATES = [5, 10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400]
P99_LIMIT_MS = 100.0
SATURATED_MS = 500.0  # past this p99 a step counts as saturated (see marginal_cpu)
COLUMNS = [
    *(("rate", "target/s"), ("attempt", "try"), ("offered", "offered/s")),
    *(("persisted", "saved/s"), ("delivered", "delivered/s"), ("frames", "frames/s")),
    *(("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("lost", "lost"), ("duplicated", "dup")),
    *(("errors", "errors"), ("server_cpu_pct", "srv CPU%"), ("server_sys_share", "sys")),
    *(("cpu_us_per_msg", "µs/msg"), ("pg_us_per_msg", "pg µs/msg")),
    *(("redis_us_per_msg", "redis µs/msg"), ("db_xact_per_s", "db xact/s")),
    *(("redis_cmd_per_s", "redis cmd/s"), ("rss_kb_per_conn", "KB/conn")),
    *(("client_cpu_pct", "client%"), ("clean", "clean")),
]


def prepare(args) -> dict:
    rates = [float(r) for r in args.rates.split(",")] if args.rates else DEFAULT_RATES
    args.rate_list = rates[:8] if args.quick and not args.rates else rates
    args.step_seconds = args.step_seconds or (3.0 if args.quick else 5.0)
    keys, threads = fixtures.pairs(args.users or (200 if args.quick else 1000), "bench_u")
    return {"keys": keys, "threads": threads}


def count_saved(threads: list[int]) -> int:
    from privatemessages.models import Message

    return Message.objects.filter(thread_id__in=threads).count()


def targets_for(kind: str, ports: list[int], data: dict) -> list[tuple]:
    """
    One target per user, partners adjacent (2k, 2k+1). Ours and the peer get the ports
    round-robin in a shuffled order, so about half the pairs span two processes; the
    ceiling has no broker, so a thread's sockets share a port.
    """
    order = list(range(len(data["keys"])))
    random.Random(1).shuffle(order)
    position, threads = {user: n for n, user in enumerate(order)}, data["threads"]
    return [
        (ports[(i // 2 if kind == "ceiling" else position[i]) % len(ports)], threads[i // 2], key)
        for i, key in enumerate(data["keys"])
    ]


async def run_server(kind: str, args, env: dict, data: dict, group, client) -> dict:
    """Connect every user, climb the ladder; return the results."""
    rss_fresh = group.rss_bytes()
    out = await connect_all(client, group, targets_for(kind, group.ports, data))
    out["steps"] = []
    senders = [index for index in client.sockets if index ^ 1 in client.sockets]
    if not senders:
        raise RuntimeError("no pair connected: " + group.log_tail())
    meters, closed_before, saved = Meters(group), client.closed, sync_to_async(count_saved)
    index = attempt = 1
    while index <= len(args.rate_list) and group.alive():
        rate = args.rate_list[index - 1]
        stats = client.begin_step(len(out["steps"]))
        saved_before = await saved(data["threads"]) if kind == "ours" else 0
        meters.start()
        sent = await client.send_at_rate(senders, rate=rate, seconds=args.step_seconds)
        expected = sent["sent"] - sent["failed"]
        await client.drain(expected, timeout=args.drain)
        m, send_s = meters.stop(), sent["elapsed"]
        delivered, frames = len(stats.received), stats.frames.total()
        row = {"rate": rate, "attempt": attempt, "sent": sent["sent"]}
        row |= {"offered": sent["sent"] / send_s, "delivered": delivered / send_s}
        row |= {"frames": frames / send_s, **stats.figures(), **m}
        row["lost"] = expected - delivered + sent["failed"]
        row["disconnects"] = client.closed - closed_before
        row["cpu_us_per_msg"] = 1e6 * m["server_cpu"] / max(1, sent["sent"])
        row["pg_us_per_msg"] = 1e6 * m["postgres_cpu"] / max(1, sent["sent"])
        row["redis_us_per_msg"] = 1e6 * m["redis_cpu"] / max(1, sent["sent"])
        # Growth since the servers started, per open socket.
        row["rss_kb_per_conn"] = (group.rss_bytes() - rss_fresh) / len(client.sockets) / 1024
        if kind == "ours":
            persisted = await saved(data["threads"]) - saved_before
            row["persisted"], row["unsaved"] = persisted / send_s, sent["sent"] - persisted
        faults = row["lost"], row["duplicated"], row["disconnects"], row.get("unsaved", 0)
        row["clean"] = (row["p99_ms"] or 1e9) < P99_LIMIT_MS and not any(faults)
        row["clean"] &= row["offered"] >= 0.95 * rate
        if row["lost"] > 0:
            # Let a backlog clear before the next step; what still arrives was late, not lost.
            await client.drain(expected, timeout=15)
            row["arrived_after_drain"] = len(stats.received) - delivered
        out["steps"].append(row)
        print(f"[{kind}] " + ", ".join(f"{h} {fmt(row.get(k))}" for k, h in COLUMNS), flush=True)
        await asyncio.sleep(0.5)
        if row["clean"]:
            index, attempt = index + 1, 1
        elif attempt <= args.retries:
            attempt += 1  # one noisy moment on a shared machine should not end the ladder
        else:
            break
    if not group.alive():
        out["error"] = "a server process died: " + group.log_tail()
    clean = [s["rate"] for s in out["steps"] if s["clean"]]
    out["best_clean_rate"] = max(clean, default=0)
    out["ladder_top_reached"] = bool(clean) and max(clean) == max(args.rate_list)
    return out | {"marginal_cpu_us_per_msg": marginal_cpu(out["steps"])}


def marginal_cpu(steps: list[dict]) -> float | None:
    """
    Return the server CPU each extra message costs (µs): the least-squares slope of server
    CPU over the offered rate, across the steps where the servers kept up (nothing lost, p99
    under SATURATED_MS: a saturated server's CPU stops growing with the rate). Steadier than
    the highest clean rate on a noisy machine, and free of the idle sockets' own cost.
    """
    by_rate: dict[float, list[tuple[float, float]]] = {}
    for s in steps:
        if s["lost"] == 0 and (s["p99_ms"] or 1e9) < SATURATED_MS:
            by_rate.setdefault(s["rate"], []).append((s["offered"], s["server_cpu_pct"] / 100))
    # One point per rate (a retried step is averaged with its first try).
    points = [[sum(v) / len(runs) for v in zip(*runs, strict=True)] for runs in by_rate.values()]
    mean_x = sum(x for x, _ in points) / max(1, len(points))
    mean_y = sum(y for _, y in points) / max(1, len(points))
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if len(points) < 2 or not spread:
        return None
    return round(1e6 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread)


def summarize(results: dict) -> None:
    servers = results["servers"]
    best = results["best_clean_rate"] = {k: v.get("best_clean_rate") for k, v in servers.items()}
    cost = {k: v.get("marginal_cpu_us_per_msg") for k, v in servers.items()}
    results["marginal_cpu_us_per_msg"] = cost
    results["ratios"] = {
        f"{name}ours_to_{other}": ratio(figures.get("ours"), figures.get(other))
        for name, figures in (("", best), ("cpu_per_msg_", cost))
        for other in ("peer", "ceiling")
    }


def print_tables(results: dict) -> None:
    for kind, res in results["servers"].items():
        print(
            f"\nchat mix — {kind} (idle RSS {res.get('rss_kb_per_idle_socket')} KB/socket, "
            f"{res.get('sockets')} sockets, connect {res.get('connect_seconds')} s)"
        )
        print_notes(kind, res)
        print(table(res.get("steps", []), COLUMNS))
        top = " (top of the ladder: raise --rates)" if res.get("ladder_top_reached") else ""
        print(f"  highest clean rate: {res.get('best_clean_rate')} msg/s{top}")
        print(f"  server CPU per extra message: {res.get('marginal_cpu_us_per_msg')} µs")
    print(f"\nhighest clean rate: {results['best_clean_rate']}")
    print(f"server CPU per extra message (µs): {results['marginal_cpu_us_per_msg']}")
    print(f"ratios: {results['ratios']}")
