"""
Benchmark the Alice webhook over HTTP: the four-turn README dialog, many sessions at once,
against ``webhook[:memory|:redis|:db]`` (deploy/alice/cluster.py's granian command),
``alice_scripts`` (gunicorn, as its README deploys it) and ``trivial`` (a constant answer on
the webhook's server command: the ceiling). ``@granian`` or ``@N`` (gunicorn, N gthread
threads) picks the server. See bench/README.md, "Alice over HTTP".

    .venv/bin/python bench/alice_http.py [--levels 1,16,64] [--seconds 3] [--rounds 3]
    .venv/bin/python bench/alice_http.py --profile 10      # and sample the webhook with py-spy
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.alice_common import STORES, Server, production_env, run_load
from bench.common import REDIS_URL, RESULTS, ROOT

DEFAULT_TARGETS = "webhook:memory,webhook:redis,alice_scripts,trivial"
# A profile's samples are charged to the innermost frame from one of these modules.
OWNERS = [
    ("webhook: router, view, HTTP core", ("alice.engine.router", "alice.engine.webhook")),
    ("webhook: router, view, HTTP core", ("alice.views", "alice.wsgi_mount")),
    ("engine (alice.engine, the script)", ("alice.engine.", "alice.scripts.")),
    ("trivial WSGI answer", ("bench.alice_http_wsgi",)),
    ("alice_scripts + pymorphy2", ("alice_scripts.", "pymorphy2.", "dawg_python.")),
    ("flask + werkzeug", ("flask.", "werkzeug.")),
    ("django: URL resolving", ("django.urls.",)),
    ("django: handler", ("django.core.handlers.", "django.utils.deprecation")),
    ("django: signals", ("django.dispatch.",)),
    ("gunicorn", ("gunicorn.",)),
]


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the rounds of one target at one level."""
    latencies = [lat / 1000 for run in runs for lat in run["latencies_us"]]
    elapsed = sum(run["elapsed"] for run in runs)
    server_cpu = sum(run["server_cpu"] for run in runs)
    total = {key: sum(run.get(key, 0) for run in runs) for key in ("errors", "bad_dialogs")}
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "rps_rounds": [round(run["requests"] / run["elapsed"], 1) for run in runs],
        **{f"p{p}_ms": common.percentile(latencies, p / 100) for p in (50, 90, 99)},
        "max_ms": max(latencies, default=None),
        "errors": total["errors"] + total["bad_dialogs"],
        "dialogs": sum(run.get("dialogs", 0) for run in runs),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "rps_per_server_cpu_s": round(len(latencies) / server_cpu, 1) if server_cpu else None,
        "client_cpu_pct": round(100 * sum(run["client_cpu"] for run in runs) / elapsed, 1),
    }


def compare(servers: list[Server], levels: list[int], runs: dict, results: dict) -> dict:
    """Return the ratios of every target to alice_scripts and to the ceiling, and the targets."""
    first = {s.kind: s.spec for s in reversed(servers)}
    peer, ceiling = first.get("alice_scripts"), first.get("trivial")
    ratios, met = {}, {}
    for spec in results:
        for other in [o for o in (peer, ceiling) if o and spec not in (peer, ceiling)]:
            for level in levels:
                mine, theirs = results[spec][level], results[other][level]
                ratios[f"{spec}/{other} c{level}"] = {
                    "rps": round(mine["rps"] / theirs["rps"], 2),
                    "rps_rounds": sorted(
                        round(a / b, 2)
                        for a, b in zip(mine["rps_rounds"], theirs["rps_rounds"], strict=True)
                    ),
                    "rps_per_server_cpu": round(
                        mine["rps_per_server_cpu_s"] / theirs["rps_per_server_cpu_s"], 2
                    ),
                    "p99": round(mine["p99_ms"] / theirs["p99_ms"], 2),
                }
    for spec in [s.spec for s in servers if s.kind == "webhook"]:
        checks = {}
        if peer:
            versus = [ratios[f"{spec}/{peer} c{level}"] for level in levels]
            checks["1.5x_alice_scripts"] = all(r["rps"] >= 1.5 for r in versus)
            checks["lower_p99_than_alice_scripts"] = all(r["p99"] < 1 for r in versus)
        if ceiling:
            versus = [ratios[f"{spec}/{ceiling} c{level}"] for level in levels]
            checks["70pct_of_trivial"] = all(r["rps"] >= 0.7 for r in versus)
        met[spec] = checks
    return {"ratios": ratios, "targets_met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--targets", default=DEFAULT_TARGETS, help="kind[:store][@server],...")
    add("--threads", type=int, default=8, help="gunicorn gthread threads")
    add("--levels", default="1,16,64", help="concurrent sessions")
    add("--seconds", type=float, default=3.0, help="per target, level and round")
    add("--rounds", type=int, default=3)
    add("--warmup", type=float, default=1.0, help="seconds per target first")
    add("--pin", action="store_true", help="servers on CPU 0, the client on CPU 1")
    add("--server-env", action="append", default=[], metavar="NAME=VALUE")
    add("--profile", type=int, default=0, metavar="SECONDS", help="py-spy after the rounds")
    add("--profile-targets", default=None, help="default: the first target")
    add("--profile-concurrency", type=int, default=16)
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    prefix, sqlite = f"bench-alice-{os.urandom(4).hex()}:", RESULTS / f"alice-http-{stamp}.sqlite3"
    server_cpu, client_cpu = (0, 1) if args.pin else (None, None)
    levels = [int(level) for level in args.levels.split(",")]
    extra = dict(item.split("=", 1) for item in args.server_env)
    envs = {
        # The project's choice with Redis; without it, a database (a SQLite file of the
        # run's own, persistent connections as docs/alice.md deploys it).
        "memory": {"ALICE_SESSION_STORE": STORES["memory"]},
        "redis": {"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix},
        "db": {"DATABASE_URL": f"sqlite:///{sqlite}", "DATABASE_CONN_MAX_AGE": "60"},
        None: {},
    }
    specs = args.targets.split(",")
    if not common.redis_reachable() and args.targets == DEFAULT_TARGETS:
        print(f"no Redis at {REDIS_URL} (BENCH_REDIS_URL): webhook:redis left out")
        specs.remove("webhook:redis")
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    servers = [
        Server(
            spec, lambda store: production_env(**envs[store], **extra), server_cpu, args.threads
        )
        for spec in specs
    ]
    if len({s.spec for s in servers}) != len(servers):
        raise SystemExit("a target is listed twice")
    profiled = (args.profile_targets or servers[0].spec).split(",")
    load_at_start = common.load_average()
    print(
        f"Alice over HTTP: README dialog (4 requests per session), {len(servers)} targets × "
        f"{len(levels)} levels × {args.rounds} rounds × {args.seconds:g} s; "
        f"load average {load_at_start}; {os.cpu_count()} CPUs",
        flush=True,
    )
    runs = {s.spec: {level: [] for level in levels} for s in servers}
    stores, profiles = {}, {}
    try:
        for server in servers:
            if server.store == "db" and not sqlite.exists():
                manage = [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"]
                subprocess.run(manage, cwd=ROOT, env=server.env, check=True)
            server.start(timeout=60)
            if server.store:
                stores[server.spec] = server.store_class()
            warm = run_load([server], max(levels), args.warmup, f"warm-{stamp}", client_cpu)
            if not warm["requests"] or warm.get("errors") or warm.get("bad_dialogs"):
                warm.pop("latencies_us")
                raise SystemExit(f"{server.spec} fails: {warm}\n{server.log_tail(20)}")
        for n in range(args.rounds):
            for level in levels:  # the targets take turns: the machine's noise hits all alike
                for server in servers[n % len(servers) :] + servers[: n % len(servers)]:
                    result = run_load([server], level, args.seconds, f"r{n}-c{level}", client_cpu)
                    runs[server.spec][level].append(result)
            print(
                f"round {n + 1}/{args.rounds} done; load average {common.load_average()}",
                flush=True,
            )
        for server in servers if args.profile else ():
            if server.spec in profiled:
                out = RESULTS / f"alice-http-pyspy-{server.slug}-{stamp}.txt"
                spy = common.Profiler(common.tree(server.pid)[-1], args.profile, out)  # the worker
                load = run_load([server], args.profile_concurrency, args.profile, "profile")
                profiles[server.spec] = (spy.finish(OWNERS) or {}) | {
                    "rps": round(load["requests"] / load["elapsed"])
                }
    finally:
        for server in servers:
            server.stop(5, signal.SIGINT)  # gunicorn's quick shutdown
        common.delete_redis_keys(REDIS_URL, prefix)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite}{suffix}").unlink(missing_ok=True)

    results = {spec: {lv: summarise(r) for lv, r in by.items()} for spec, by in runs.items()}
    report = {
        "workload": "alice-http",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": {"start": load_at_start, "end": common.load_average()},
        "tree": common.tree_state(ROOT, "alice", "myproject", "bench"),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "pinned": args.pin,
        "commands": {s.spec: " ".join(s.command[1:]) for s in servers},
        "stores": stores,
        "server_env": extra,
        "results": results,
        **compare(servers, levels, runs, results),
        "profile": profiles,
    }
    print(f"\nload average at the end {report['load_average']['end']}")
    rows = [
        {"target": s.spec, "conc": level, **results[s.spec][level]}
        for level in levels
        for s in servers
    ]
    for row in rows:
        row["min–max"] = f"{min(row['rps_rounds']):.0f}–{max(row['rps_rounds']):.0f}"
    columns = [("target", "target"), ("conc", "conc"), ("rps", "req/s"), ("min–max", "min–max")]
    columns += [("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("server_cpu_pct", "srv CPU%")]
    columns += [("rps_per_server_cpu_s", "req/CPU-s"), ("client_cpu_pct", "cli CPU%")]
    print(common.table(rows, [*columns, ("errors", "errors")]))
    rows = [{"ratio": name, **r} for name, r in report["ratios"].items()]
    for row in rows:
        row["per round"] = ",".join(f"{x:.2f}" for x in row["rps_rounds"])
    columns = [("ratio", "ratio"), ("rps", "req/s"), ("per round", "per round")]
    print(common.table(rows, [*columns, ("rps_per_server_cpu", "per CPU-s"), ("p99", "p99")]))
    for spec, met in report["targets_met"].items():
        print(f"targets met by {spec}: " + ", ".join(f"{k} {v}" for k, v in met.items()))
    for spec, profile in profiles.items():
        common.print_profile(f"\n{spec} under load ({profile['rps']} req/s)", profile)
    common.save("alice-http", report)


if __name__ == "__main__":
    main()
