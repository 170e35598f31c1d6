#!/usr/bin/env python3
"""
Serve the Alice webhook as N gunicorn processes behind nginx's plain round robin.

    REDIS_URL=redis://127.0.0.1:6379/0 python deploy/alice/cluster.py --processes 3

serves http://127.0.0.1:8180/alice/ with ``gunicorn myproject.wsgi:application --workers 1
--threads 8`` on ports 8101-8103. No process owns a dialog: nginx sends each request to the
next process, which continues the dialog from the session store (Redis when REDIS_URL is
set, else the database: PostgreSQL for processes on several machines, SQLite on one). A
process that exits is started again; Ctrl+C stops everything. The nginx config is rendered
from deploy/alice/nginx.conf.template into the run directory. See docs/alice.md.
"""

import argparse
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BASE_DIR))

from deploy.supervisor import (  # noqa: E402
    Supervisor,
    find_nginx,
    prepare_nginx,
    render_nginx_config,
)

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
MEMORY_STORE = "alice.engine.storage.MemorySessionStore"


def store_problem(processes: int, env: dict[str, str]) -> str | None:
    """Return why *processes* processes cannot share dialogs with *env*, or None."""
    store = env.get("ALICE_SESSION_STORE", "")
    if processes > 1 and store == MEMORY_STORE:
        return (
            f"ALICE_SESSION_STORE is {MEMORY_STORE}: each process would know only the "
            "dialogs it served; use Redis (REDIS_URL) or the database"
        )
    return None


def gunicorn_command(port: int, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "myproject.wsgi:application",
        *("--workers", "1", "--threads", str(threads)),
        *("--bind", f"127.0.0.1:{port}"),
        *("--graceful-timeout", "5", "--log-level", "warning"),
        # Longer than nginx keeps idle upstream connections (60 s): otherwise gunicorn
        # closes one nginx is about to reuse, and the retry lands on the other process.
        *("--keep-alive", "75"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", "-n", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--base-port", type=int, default=8101, help="port of the first one")
    parser.add_argument("--threads", type=int, default=8, help="threads per process")
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--port", type=int, default=8180, help="port nginx listens on")
    parser.add_argument("--run-dir", type=Path, default=BASE_DIR / "deploy" / "run" / "alice")
    parser.add_argument("--access-log", action="store_true", help="nginx access log in run dir")
    parser.add_argument(
        "--check", action="store_true", help="render and test the nginx config, then exit"
    )
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    # Keep database connections between requests: the database store uses one per request.
    env.setdefault("DATABASE_CONN_MAX_AGE", "60")
    problem = store_problem(args.processes, env)
    if problem:
        parser.error(problem)
    if not env.get("REDIS_URL") and not env.get("DATABASE_URL", "").startswith("postgres"):
        print(
            "alice-cluster: dialogs are shared through the SQLite database: the processes "
            "must run on this machine (set REDIS_URL or a PostgreSQL DATABASE_URL for more)",
            flush=True,
        )
    nginx = find_nginx()
    if nginx is None:
        parser.error("nginx is not installed (apt-get install nginx)")

    run_dir = args.run_dir.resolve()
    ports = [args.base_port + i for i in range(args.processes)]
    nginx_command = prepare_nginx(
        nginx,
        run_dir,
        render_nginx_config(
            TEMPLATE,
            listen=f"{args.host}:{args.port}",
            upstreams=[f"127.0.0.1:{port}" for port in ports],
            run_dir=run_dir,
            access_log=args.access_log,
        ),
    )
    config = run_dir / "nginx.conf"
    if args.check:
        print(f"alice-cluster: {config} is valid", flush=True)
        return 0
    print(
        f"alice-cluster: http://{args.host}:{args.port}/alice/ -> gunicorn on ports "
        f"{', '.join(map(str, ports))}, round robin (config {config})",
        flush=True,
    )
    servers = {port: gunicorn_command(port, args.threads) for port in ports}
    return Supervisor(servers, nginx_command, name="alice-cluster", kind="gunicorn", env=env).run()


if __name__ == "__main__":
    sys.exit(main())
