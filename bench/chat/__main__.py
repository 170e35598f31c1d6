"""
Run the chat benchmarks: ``python -m bench.chat [all|mix|delivery] [flags]``.

Each prints a table and one JSON line, and saves the JSON in bench/results/.
"""

import argparse
import asyncio
import sys

from . import delivery, env, mix, report
from .servers import DEPLOYED_SERVER, KINDS, ours_available


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    p.add_argument("workload", nargs="?", default="all", choices=["all", "mix", "delivery"])
    p.add_argument("--quick", action="store_true", help="small and short (smoke test)")
    p.add_argument("--procs", type=int, default=2, help="server processes per server (2)")
    p.add_argument(
        "--servers",
        default=",".join(KINDS),
        help="which servers, comma-separated (default ours,peer,ceiling)",
    )
    p.add_argument(
        "--server",
        choices=["uvicorn", "daphne"],
        default=DEPLOYED_SERVER,
        help=f"ASGI server for ours (default {DEPLOYED_SERVER}, with deploy/cluster.py's "
        "command line; the peer always runs under daphne)",
    )
    p.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment of our server processes only, e.g. DATABASE_CONN_MAX_AGE=60",
    )
    p.add_argument("--profile", action="store_true", help="py-spy our first server process")
    mix.add_arguments(p)
    delivery.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    mix.defaults(args)
    delivery.defaults(args)
    args.ours_env = dict(item.split("=", 1) for item in args.ours_env)
    args.kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        sys.exit(f"unknown servers: {', '.join(sorted(unknown))}")
    if "ours" in args.kinds and not ours_available():
        print("privatemessages has no WebSocket routes yet: skipping ours", file=sys.stderr)
        args.kinds.remove("ours")

    bench_env = env.activate()
    env.ensure_database(bench_env)
    import django

    django.setup()
    print(f"Redis prefix {bench_env['REDIS_KEY_PREFIX']}, database {bench_env['DATABASE_URL']}")
    try:
        if args.workload in ("all", "mix"):
            data = mix.prepare(args)
            results = _run(mix.run(args, bench_env, data))
            mix.print_tables(results)
            report.save("chat-mix", results)
        if args.workload in ("all", "delivery"):
            data = delivery.prepare(args)
            results = _run(delivery.run(args, bench_env, data))
            delivery.print_tables(results)
            report.save("chat-delivery", results)
    finally:
        deleted = env.delete_redis_keys(bench_env)
        print(f"deleted {deleted} Redis keys under {bench_env['REDIS_KEY_PREFIX']}")
    return 0


def _run(coro):
    """Run the client on uvloop when it is installed: a cheaper client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    sys.exit(main())
