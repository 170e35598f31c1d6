"""
Run the chat benchmarks: ``python -m bench.chat [all|mix|delivery] [flags]``. Each prints a
table and one JSON line, and saves the JSON in bench/results/. See bench/README.md.
"""

import argparse
import os
import sys
import time

from bench.common import create_database, delete_redis_keys, run_async, save

from . import delivery, env, mix
from .client import LoadClient
from .servers import DEPLOYED_SERVER, KINDS, ServerGroup


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    p.add_argument("workload", nargs="?", default="all", choices=["all", "mix", "delivery"])
    p.add_argument("--quick", action="store_true", help="small and short (smoke test)")
    p.add_argument("--procs", type=int, default=2, help="server processes per server (2)")
    p.add_argument("--servers", default=",".join(KINDS), help="which, comma-separated")
    p.add_argument(
        "--server",
        choices=["uvicorn", "daphne"],
        default=DEPLOYED_SERVER,
        help="ASGI server for ours (the peer always runs under daphne)",
    )
    p.add_argument("--ours-env", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--profile", action="store_true", help="py-spy our first server process")
    mix.add_arguments(p)
    delivery.add_arguments(p)
    args = p.parse_args(argv)
    args.ours_env = dict(item.split("=", 1) for item in args.ours_env)
    args.kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if set(args.kinds) - set(KINDS):
        p.error(f"unknown servers: {', '.join(sorted(set(args.kinds) - set(KINDS)))}")
    return args


async def run(workload, args, bench_env: dict, data: dict) -> dict:
    """Run *workload* against each server in turn; keep the others' results if one fails."""
    results = {
        "workload": f"chat-{workload.__name__.rsplit('.', 1)[-1]}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "params": {"procs": args.procs, "server": args.server, "ours_env": args.ours_env}
        | workload.params(args),
        "servers": {},
    }
    for kind in args.kinds:
        print(f"== {results['workload']}: {kind} ({args.procs} procs)", flush=True)
        group, client = ServerGroup(kind, args, bench_env), LoadClient()
        out = results["servers"][kind] = {"kind": kind, "procs": args.procs}
        try:
            group.start()
            out["command"] = group.command
            out |= await workload.run_server(kind, args, bench_env, data, group, client)
        except Exception as exc:
            out["error"] = repr(exc)
            print(f"[{kind}] failed: {exc!r}", flush=True)
        finally:
            await client.close()
            group.stop()
    results["loadavg_end"] = os.getloadavg()
    workload.summarize(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench_env = env.activate()
    create_database(bench_env)
    import django

    django.setup()
    print(f"Redis prefix {bench_env['REDIS_KEY_PREFIX']}, database {bench_env['DATABASE_URL']}")
    try:
        for workload in [mix, delivery] if args.workload == "all" else [globals()[args.workload]]:
            results = run_async(run(workload, args, bench_env, workload.prepare(args)))
            workload.print_tables(results)
            save(results["workload"], results)
    finally:
        deleted = delete_redis_keys(bench_env["REDIS_URL"], bench_env["REDIS_KEY_PREFIX"])
        print(f"deleted {deleted} Redis keys under {bench_env['REDIS_KEY_PREFIX']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
