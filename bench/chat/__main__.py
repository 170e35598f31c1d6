"""
Run the chat benchmarks: ``python -m bench.chat [all|mix|delivery|idle|skills|tabs] [flags]``.
Each prints a table and one JSON line, and saves the JSON in bench/results/. See
bench/README.md.
"""

import argparse
import os
import sys
import time

from bench.common import create_database, delete_redis_keys, run_async, save

from . import delivery, fixtures, idle, mix, skills, tabs
from .client import LoadClient
from .servers import KINDS, ServerGroup

WORKLOADS = {"mix": mix, "delivery": delivery, "idle": idle, "skills": skills, "tabs": tabs}
# What "all" runs (make bench-chat); the skills and tabs workloads are run on their own.
ALL = ["mix", "delivery", "idle"]
# Workloads that measure ours alone.
OURS_ONLY = {"idle", "skills", "tabs"}


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    p.add_argument("workload", nargs="?", default="all", choices=["all", *WORKLOADS])
    p.add_argument("--quick", action="store_true", help="small and short (smoke test)")
    p.add_argument("--procs", type=int, default=2, help="server processes per server (2)")
    p.add_argument("--servers", help="comma-separated (default: all three; idle, tabs: ours)")
    ladder = p.add_argument_group("chat mix")
    ladder.add_argument("--users", type=int, help="users, two per thread (1000; tabs: 40)")
    ladder.add_argument("--rates", help="ladder of total offered messages/s, comma-separated")
    ladder.add_argument("--step-seconds", type=float, help="sending time per step (default 5)")
    ladder.add_argument("--drain", type=float, default=5.0, help="max wait after a step")
    ladder.add_argument("--retries", type=int, default=1, help="reruns of an unclean step")
    path = p.add_argument_group("delivery path, idle tabs, many tabs")
    path.add_argument("--tabs", type=int, help="sockets open (1000); tabs: per user (50)")
    path.add_argument("--rate", type=float, help="delivery: messages/s sent (2; tabs: 100)")
    path.add_argument("--seconds", type=float, help="sending (10), idle: idle (30)")
    path.add_argument(
        "--heartbeat", type=float, default=0, help="idle: a sync every S s (0: none, as chat.js)"
    )
    talk = p.add_argument_group("skills in the chat (ours only)")
    talk.add_argument("--mix-rate", type=float, help="the mix's total messages/s (100)")
    talk.add_argument("--think", type=float, default=2.0, help="a skill user's pause (2 s)")
    args = p.parse_args(argv)
    if args.rate is None:
        args.rate = 100.0 if args.workload == "tabs" else 2.0
    if set(args.servers.split(",") if args.servers else []) - set(KINDS):
        p.error(f"--servers: of {', '.join(KINDS)}")
    return args


async def run(name: str, args, env: dict, data: dict) -> dict:
    """Run workload *name* against each server in turn; keep the others' results if one fails."""
    workload = WORKLOADS[name]
    kinds = args.servers.split(",") if args.servers else ["ours"] if name in OURS_ONLY else KINDS
    results = {"workload": f"chat-{name}", "cores": os.cpu_count()}
    results |= {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    results["params"] = {key: value for key, value in vars(args).items() if value is not None}
    results |= {"loadavg_start": os.getloadavg(), "servers": {}}
    for kind in kinds:
        print(f"== {results['workload']}: {kind} ({args.procs} procs)", flush=True)
        group, client = ServerGroup(kind, args.procs, env), LoadClient(kind)
        out = results["servers"][kind] = {"kind": kind}
        try:
            group.start()
            out |= await workload.run_server(kind, args, env, data, group, client)
        except Exception as exc:
            out["error"] = repr(exc)
            print(f"[{kind}] failed: {exc!r}", flush=True)
        finally:
            await client.close()
            group.stop()
    results["loadavg_end"] = os.getloadavg()
    if hasattr(workload, "summarize"):
        workload.summarize(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = fixtures.activate()
    create_database(env)
    import django

    django.setup()
    print(f"Redis prefix {env['REDIS_KEY_PREFIX']}, database {env['DATABASE_URL']}")
    try:
        for name in ALL if args.workload == "all" else [args.workload]:
            results = run_async(run(name, args, env, WORKLOADS[name].prepare(args)))
            WORKLOADS[name].print_tables(results)
            save(results["workload"], results)
    finally:
        deleted = delete_redis_keys(env["REDIS_URL"], env["REDIS_KEY_PREFIX"])
        print(f"deleted {deleted} Redis keys under {env['REDIS_KEY_PREFIX']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
