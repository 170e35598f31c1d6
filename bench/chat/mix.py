"""
Workloads 1-3, the chat mix: U users in U/2 two-person threads, one socket each,
every user sending at a fixed rate, the rate laddered up; run against ours, the
peer and the ceiling in turn with the same client.

    python -m bench.chat mix [--users 1000] [--procs 2] [--rates 500,1000,...]
"""

import asyncio
import os
import random
import time

from asgiref.sync import sync_to_async

from .client import LoadClient, Target, percentile
from .env import RESULTS
from .meters import Meters
from .report import print_profile, ratio, table
from .servers import Profiler, ServerGroup, server_group

# Doubling from a rate every server here sustains; each server stops climbing
# after its first unclean step.
DEFAULT_RATES = [5, 10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400]
QUICK_RATES = [5, 10, 25, 50, 100, 200, 400, 800]
P99_LIMIT_MS = 100.0
# Past this p99 a step counts as saturated (see marginal_cpu).
SATURATED_MS = 500.0
WARM_SOCKETS = 20

COLUMNS = [
    ("rate", "target/s"),
    ("attempt", "try"),
    ("per_user", "per user/s"),
    ("offered", "offered/s"),
    ("persisted", "saved/s"),
    ("delivered", "delivered/s"),
    ("frames", "frames/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("lost", "lost"),
    ("duplicated", "dup"),
    ("errors", "errors"),
    ("server_cpu_pct", "srv CPU%"),
    ("server_sys_share", "sys"),
    ("cpu_us_per_msg", "µs/msg"),
    ("redis_cpu_pct", "redis%"),
    ("db_cpu_pct", "pg%"),
    ("rss_kb_per_conn", "KB/conn"),
    ("client_cpu_pct", "client%"),
    ("clean", "clean"),
]


def add_arguments(parser) -> None:
    group = parser.add_argument_group("chat mix (workloads 1-3)")
    group.add_argument("--users", type=int, help="users, two per thread (default 1000)")
    group.add_argument(
        "--rates",
        help="ladder of total offered messages/s, comma-separated "
        f"(default {','.join(map(str, DEFAULT_RATES))})",
    )
    group.add_argument("--step-seconds", type=float, help="sending time per step (default 5)")
    group.add_argument(
        "--drain", type=float, default=5.0, help="max wait for deliveries after a step"
    )
    group.add_argument(
        "--retries",
        type=int,
        default=1,
        help="times an unclean step is run again before the ladder stops (default 1)",
    )
    group.add_argument(
        "--keep-going", action="store_true", help="climb the whole ladder after a failed step"
    )


def defaults(args) -> None:
    if args.users is None:
        args.users = 200 if args.quick else 1000
    if args.users % 2:
        args.users += 1
    if args.rates:
        args.rate_list = [float(r) for r in args.rates.split(",")]
    else:
        args.rate_list = QUICK_RATES if args.quick else DEFAULT_RATES
    if args.step_seconds is None:
        args.step_seconds = 3.0 if args.quick else 5.0


def prepare(args) -> dict:
    """Create the users, their sessions and their threads (sync, Django)."""
    from django.db import connections

    from . import fixtures

    fixtures.delete_old_sessions()
    users = fixtures.bench_users(args.users)
    threads = fixtures.pair_threads(users)
    fixtures.clear_messages(threads)
    connections.close_all()
    return {"users": users, "threads": threads}


def targets_for(kind: str, ports: list[int], data: dict, seed: int = 1) -> list[Target]:
    """
    One target per user, partners adjacent (2k, 2k+1). Ours and the peer get
    the ports round-robin in a shuffled order, so about half the pairs span two
    processes; the ceiling has no broker, so a thread's sockets share a port.
    """
    users, threads = data["users"], data["threads"]
    order = list(range(len(users)))
    random.Random(seed).shuffle(order)
    position = {user: n for n, user in enumerate(order)}
    targets = []
    for i, user in enumerate(users):
        thread = threads[i // 2]
        slot = i // 2 if kind == "ceiling" else position[i]
        port = ports[slot % len(ports)]
        targets.append(Target.chat(port, thread, user.session_key))
    return targets


async def run_server(kind: str, args, env: dict, data: dict) -> dict:
    """Start *kind*, connect every user, climb the ladder; return the results."""
    procs = args.procs
    out: dict = {"kind": kind, "procs": procs, "steps": []}
    group = server_group(kind, args, env)
    client = LoadClient()
    if kind == "ours":
        from . import fixtures

        latest_id = sync_to_async(fixtures.latest_message_id)
        saved_since = sync_to_async(fixtures.messages_since)
    try:
        group.start()
        out["command"] = " ".join(group_command(group))
        targets = targets_for(kind, group.ports, data)
        rss_fresh = group.rss_bytes()
        warm = min(WARM_SOCKETS, len(targets))
        # The chat sends live messages to a socket only after its first sync.
        replies = kind == "ours"
        await client.open(targets[:warm], first=0)
        await client.sync(wait_for_reply=replies)
        await asyncio.sleep(0.5)
        rss_warm = group.rss_bytes()
        t_connect = time.perf_counter()
        await client.open(targets[warm:], first=warm)
        out["synced"] = await client.sync(wait_for_reply=replies)
        out["connect_seconds"] = round(time.perf_counter() - t_connect, 2)
        await asyncio.sleep(1.0)
        rss_idle = group.rss_bytes()
        opened = {s.index for s in client.sockets}
        out["sockets"] = len(opened)
        out["connect_failures"] = dict(client.connect_failures)
        out["connect_errors"] = dict(client.connect_errors)
        out["connect_retries"] = client.connect_retries
        out["rss_mb_fresh"] = round(rss_fresh / 2**20, 1)
        out["rss_mb_idle"] = round(rss_idle / 2**20, 1)
        if len(opened) > warm:
            out["rss_kb_per_idle_socket"] = round(
                (rss_idle - rss_warm) / (len(opened) - warm) / 1024, 1
            )
        senders = [s for s in client.sockets if (s.index ^ 1) in opened]
        if not senders:
            out["error"] = "no pair connected: " + group.log_tail()
            return out
        meters = Meters(group, env)
        closed_before = client.closed
        rates = args.rate_list
        step = -1
        index = 0
        attempt = 1
        while index < len(rates):
            rate = rates[index]
            step += 1
            if not group.alive():
                out["error"] = "a server process died: " + group.log_tail()
                break
            stats = client.begin_step(step)
            id0 = await latest_id() if kind == "ours" else 0
            profiler = None
            if args.profile and kind == "ours":
                profiler = Profiler(
                    group.pids[0],
                    args.step_seconds,
                    RESULTS / f"pyspy-{kind}-{int(rate)}-{attempt}.txt",
                )
            meters.start()
            sent = await client.send_at_rate(
                senders, rate=rate, seconds=args.step_seconds, step=step
            )
            expected = sent["sent"] - sent["failed"]
            await client.drain(expected, timeout=args.drain)
            m = meters.stop()
            send_s = sent["elapsed"]
            latencies = sorted(stats.latencies_ns)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            delivered = len(stats.received)
            frames = sum(stats.frames.values())
            row = {
                "rate": rate,
                "per_user": round(rate / len(senders), 2),
                "sent": sent["sent"],
                "offered": sent["sent"] / send_s,
                "delivered": delivered / send_s,
                "frames": frames / send_s,
                "frame_types": dict(stats.frames),
                "p50_ms": p50 / 1e6 if p50 is not None else None,
                "p99_ms": p99 / 1e6 if p99 is not None else None,
                "max_ms": latencies[-1] / 1e6 if latencies else None,
                "lost": expected - delivered + sent["failed"],
                "duplicated": stats.duplicates + stats.duplicate_ids,
                "errors": sum(stats.errors.values()),
                "error_codes": dict(stats.errors),
                "late": stats.late,
                "disconnects": client.closed - closed_before,
                "cpu_us_per_msg": 1e6 * m["server_cpu"] / max(1, sent["sent"]),
                "cpu_us_per_frame": 1e6 * m["server_cpu"] / max(1, frames),
                # Growth since the servers started, per open socket.
                "rss_kb_per_conn": (group.rss_bytes() - rss_fresh)
                / max(1, client.open_count)
                / 1024,
                **{k: v for k, v in m.items() if k != "server_cpu"},
            }
            if kind == "ours":
                saved = await saved_since(id0, data["threads"])
                row["persisted"] = saved / send_s
                row["unsaved"] = sent["sent"] - saved
            if profiler:
                row["profile"] = profiler.finish()
            row["clean"] = (
                row["p99_ms"] is not None
                and row["p99_ms"] < P99_LIMIT_MS
                and row["lost"] == 0
                and row["duplicated"] == 0
                and row["disconnects"] == 0
                and row.get("unsaved", 0) == 0
                and row["offered"] >= 0.95 * rate
            )
            if row["lost"] > 0:
                # Let a backlog clear before the next step; what still arrives
                # was late, not lost.
                await client.drain(expected, timeout=15)
                row["arrived_after_drain"] = len(stats.received) - delivered
            row["attempt"] = attempt
            out["steps"].append(row)
            print(f"[{kind}] " + _one_line(row), flush=True)
            await asyncio.sleep(0.5)
            if row["clean"] or args.keep_going:
                index, attempt = index + 1, 1
            elif attempt <= args.retries:
                # One noisy moment on a shared machine should not end the ladder.
                attempt += 1
            else:
                break
    finally:
        await client.close()
        group.stop()
    out["marginal_cpu_us_per_msg"] = marginal_cpu(out["steps"])
    clean = [s["rate"] for s in out["steps"] if s["clean"]]
    out["best_clean_rate"] = max(clean) if clean else 0
    out["ladder_top_reached"] = bool(clean) and max(clean) == max(args.rate_list)
    return out


def marginal_cpu(steps: list[dict]) -> float | None:
    """
    Return the server CPU each extra message costs (µs): the least-squares slope
    of server CPU over the offered rate, across the steps where the servers kept
    up (nothing lost, p99 under SATURATED_MS: a saturated server's CPU stops
    growing with the rate). Steadier than the highest clean rate on a noisy
    machine, and free of the idle sockets' own cost.
    """
    by_rate: dict[float, list[tuple[float, float]]] = {}
    for s in steps:
        if s["lost"] == 0 and s["p99_ms"] is not None and s["p99_ms"] < SATURATED_MS:
            by_rate.setdefault(s["rate"], []).append((s["offered"], s["server_cpu_pct"] / 100))
    # One point per rate (a retried step is averaged with its first try).
    points = [
        (sum(x for x, _ in runs) / len(runs), sum(y for _, y in runs) / len(runs))
        for runs in by_rate.values()
    ]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if not spread:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return round(1e6 * slope)


def group_command(group: ServerGroup) -> list[str]:
    from .servers import command

    return command(group.kind, group.ports[0], group.server)


def _one_line(row: dict) -> str:
    def f(key, spec=".1f"):
        value = row.get(key)
        return "-" if value is None else format(value, spec)

    return (
        f"rate {row['rate']:.0f}/s offered {f('offered', '.0f')} "
        f"delivered {f('delivered', '.0f')} p50 {f('p50_ms')} ms p99 {f('p99_ms')} ms "
        f"lost {row['lost']} dup {row['duplicated']} err {row['errors']} "
        f"srv {f('server_cpu_pct', '.0f')}% client {f('client_cpu_pct', '.0f')}% "
        f"{'clean' if row['clean'] else 'NOT CLEAN'}"
    )


async def run(args, env: dict, data: dict) -> dict:
    results = {
        "workload": "chat-mix",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "params": {
            "users": args.users,
            "procs": args.procs,
            "server": args.server,
            "ours_env": args.ours_env,
            "rates": args.rate_list,
            "step_seconds": args.step_seconds,
            "retries": args.retries,
            "p99_limit_ms": P99_LIMIT_MS,
        },
        "servers": {},
    }
    for kind in args.kinds:
        print(f"== chat mix: {kind} ({args.procs} procs, {args.users} users)", flush=True)
        try:
            results["servers"][kind] = await run_server(kind, args, env, data)
        except Exception as exc:  # keep the other servers' results
            results["servers"][kind] = {"kind": kind, "error": repr(exc), "best_clean_rate": 0}
            print(f"[{kind}] failed: {exc!r}", flush=True)
    results["loadavg_end"] = os.getloadavg()
    best = {k: v.get("best_clean_rate") for k, v in results["servers"].items()}
    results["best_clean_rate"] = best
    cost = {k: v.get("marginal_cpu_us_per_msg") for k, v in results["servers"].items()}
    results["marginal_cpu_us_per_msg"] = cost
    results["ratios"] = {
        "ours_to_peer": ratio(best.get("ours"), best.get("peer")),
        "ours_to_ceiling": ratio(best.get("ours"), best.get("ceiling")),
        "cpu_per_msg_ours_to_peer": ratio(cost.get("ours"), cost.get("peer")),
        "cpu_per_msg_ours_to_ceiling": ratio(cost.get("ours"), cost.get("ceiling")),
    }
    return results


def print_tables(results: dict) -> None:
    for kind, res in results["servers"].items():
        print()
        head = f"chat mix — {kind}"
        if res.get("rss_kb_per_idle_socket") is not None:
            head += f" (idle RSS {res['rss_kb_per_idle_socket']} KB/socket"
            head += f", {res.get('sockets')} sockets, connect {res.get('connect_seconds')} s)"
        print(head)
        if res.get("connect_errors"):
            print(
                f"  handshake errors {res['connect_errors']}, retries {res['connect_retries']}, "
                f"given up {res.get('connect_failures')}"
            )
        if res.get("error"):
            print(f"  error: {res['error'][:2000]}")
        if res.get("steps"):
            print(table(res["steps"], COLUMNS))
        top = " (top of the ladder: raise --rates)" if res.get("ladder_top_reached") else ""
        print(f"  highest clean rate: {res.get('best_clean_rate')} msg/s{top}")
        print(f"  server CPU per extra message: {res.get('marginal_cpu_us_per_msg')} µs")
        profiled = [s for s in res.get("steps", []) if s.get("profile")]
        if profiled:
            step = profiled[-1]
            print_profile(f"{kind} at {step['rate']:.0f} msg/s", step["profile"])
    r = results["ratios"]
    print()
    print(
        f"highest clean rate: {results['best_clean_rate']}; "
        f"ours/peer {r['ours_to_peer']}, ours/ceiling {r['ours_to_ceiling']}"
    )
    print(
        f"server CPU per extra message (µs): {results['marginal_cpu_us_per_msg']}; "
        f"ours/peer {r['cpu_per_msg_ours_to_peer']}, "
        f"ours/ceiling {r['cpu_per_msg_ours_to_ceiling']}"
    )
