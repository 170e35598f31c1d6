"""
Benchmark the Alice webhook over HTTP: the four-turn README dialog, many sessions at once,
against ``webhook[:memory|:redis|:db]`` (deploy/alice/cluster.py's granian command),
``aliceio`` (the durable peer: the dialog as an aliceio state machine on its Redis storage,
aiohttp's server; bench/alice_aliceio.py), ``alice_scripts`` (gunicorn, as its README deploys
it) and ``trivial`` (a constant answer on the webhook's server command: the ceiling);
``@granian`` or ``@N`` (gunicorn, N threads) picks the server. ``--processes 2``: two
processes per target taking a dialog's requests in turn, as a round-robin balancer does.
See bench/README.md, "Alice over HTTP".
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.alice_common import MEMORY_STORE, Server, production_env, run_load, transcript
from bench.common import REDIS_URL, RESULTS, ROOT

DEFAULT_TARGETS = "webhook:memory,webhook:redis,aliceio,alice_scripts,trivial"


def summarise(runs: list[dict]) -> dict:
    """Pool the rounds of one target at one level."""
    latencies = [lat / 1000 for run in runs for lat in run["latencies_us"]]
    elapsed, cpu = (sum(run[key] for run in runs) for key in ("elapsed", "server_cpu"))
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "rps_rounds": [round(run["requests"] / run["elapsed"], 1) for run in runs],
        **{f"p{p}_ms": common.percentile(latencies, p / 100) for p in (50, 99)},
        "errors": sum(run.get("errors", 0) + run.get("bad_dialogs", 0) for run in runs),
        "server_cpu_us_per_request": round(1e6 * cpu / max(1, len(latencies))),
        "rps_per_server_cpu_s": round(len(latencies) / cpu, 1) if cpu else None,
        "client_cpu_pct": round(100 * sum(run["client_cpu"] for run in runs) / elapsed, 1),
    }


def compare(specs: list[str], results: dict) -> list[dict]:
    """Every target's ratios to the first aliceio, alice_scripts and trivial targets, per
    level."""
    kinds = ("aliceio", "alice_scripts", "trivial")
    others = [next((s for s in specs if s.startswith(kind)), None) for kind in kinds]
    rows = []
    for spec in [s for s in specs if s not in others]:
        for other in filter(None, others):
            for level, mine in results[spec].items():
                theirs = results[other][level]
                row = {"ratio": f"{spec}/{other} c{level}"}
                for key in ("rps", "rps_per_server_cpu_s", "p99_ms"):
                    row[key] = common.ratio(mine[key], theirs[key], 2)
                rows.append(row)
    return rows


def check_transcripts(targets: dict[str, list], stamp: str) -> None:
    """Stop unless the webhook and aliceio answer the dialog, retries included, alike."""
    said = {
        spec: transcript(servers[0], f"transcript-{stamp}")
        for spec, servers in targets.items()
        if servers[0].kind in ("webhook", "aliceio")
    }
    first = next(iter(said.values()), None)
    for spec, answers in said.items():
        if answers != first:
            raise SystemExit(f"{spec} answers otherwise:\n{answers}\n{first}")
    if len(said) > 1:
        print(f"same transcript ({len(first)} turns): {', '.join(said)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--targets", default=DEFAULT_TARGETS, help="kind[:store][@server],...")
    add("--processes", type=int, default=1, help="processes per target, in a round robin")
    add("--levels", default="1,16,64", help="concurrent sessions")
    add("--seconds", type=float, default=3.0, help="per target, level and round")
    add("--rounds", type=int, default=3)
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    prefix, sqlite = f"bench-alice-{os.urandom(4).hex()}:", RESULTS / f"alice-http-{stamp}.sqlite3"
    levels = [int(level) for level in args.levels.split(",")]
    envs = {
        # The project's choice with Redis; without it, a database (a SQLite file of the
        # run's own, persistent connections as docs/alice.md deploys it).
        "memory": {"ALICE_SESSION_STORE": MEMORY_STORE},
        "redis": {"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix},
        "db": {"DATABASE_URL": f"sqlite:///{sqlite}", "DATABASE_CONN_MAX_AGE": "60"},
        None: {},
    }
    specs = args.targets.split(",")
    if len(set(specs)) != len(specs):
        raise SystemExit("a target is listed twice")
    targets = {
        spec: [
            Server(spec, lambda store: production_env(**envs[store]))
            for _ in range(args.processes)
        ]
        for spec in specs
    }
    load_at_start = common.load_average()
    print(
        f"Alice over HTTP: README dialog (4 requests per session), {len(specs)} targets × "
        f"{args.processes} processes × {len(levels)} levels × {args.rounds} rounds × "
        f"{args.seconds:g} s; load average {load_at_start}; {os.cpu_count()} CPUs",
        flush=True,
    )
    runs = {spec: {level: [] for level in levels} for spec in specs}
    stores = {}
    try:
        for spec, servers in targets.items():
            if servers[0].store == "db" and not sqlite.exists():
                manage = [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"]
                subprocess.run(manage, cwd=ROOT, env=servers[0].env, check=True)
            for server in servers:
                server.start(timeout=60)
            if servers[0].store:
                stores[spec] = servers[0].store_class()
            run_load(servers, max(levels), 1, f"warm-{stamp}", strict=True)  # checks the dialog
        check_transcripts(targets, stamp)
        for n in range(args.rounds):
            for level in levels:  # the targets take turns: the machine's noise hits all alike
                for spec in specs[n % len(specs) :] + specs[: n % len(specs)]:
                    result = run_load(targets[spec], level, args.seconds, f"r{n}-c{level}")
                    runs[spec][level].append(result)
            print(f"round {n + 1}/{args.rounds}; load average {common.load_average()}", flush=True)
    finally:
        for server in [server for servers in targets.values() for server in servers]:
            server.stop()
        common.delete_redis_keys(REDIS_URL, prefix)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite}{suffix}").unlink(missing_ok=True)

    results = {spec: {lv: summarise(r) for lv, r in by.items()} for spec, by in runs.items()}
    rows = [{"target": s, "conc": lv, **results[s][lv]} for lv in levels for s in specs]
    for row in rows:
        row["min–max"] = f"{min(row['rps_rounds']):.0f}–{max(row['rps_rounds']):.0f}"
    columns = [("target", "target"), ("conc", "conc"), ("rps", "req/s"), ("min–max", "min–max")]
    columns += [("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("errors", "errors")]
    columns += [("server_cpu_us_per_request", "srv CPU µs/req")]
    columns += [("rps_per_server_cpu_s", "req/CPU-s"), ("client_cpu_pct", "cli CPU%")]
    print(common.table(rows, columns))
    ratios = compare(specs, results)
    columns = [("ratio", "ratio"), ("rps", "req/s"), ("rps_per_server_cpu_s", "per CPU-s")]
    print(common.table(ratios, [*columns, ("p99_ms", "p99")]))
    report = {"workload": "alice-http", "processes": args.processes, "stores": stores}
    report |= {"load_average": [load_at_start, common.load_average()]}
    report |= {"commands": {s: " ".join(targets[s][0].command[1:]) for s in specs}}
    common.save("alice-http", report | {"results": results, "ratios": ratios})


if __name__ == "__main__":
    main()
