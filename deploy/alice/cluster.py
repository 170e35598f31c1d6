#!/usr/bin/env python3
"""
Serve the Alice webhook as N granian processes behind nginx's plain round robin.

    REDIS_URL=redis://127.0.0.1:6379/0 python deploy/alice/cluster.py --processes 3

serves http://127.0.0.1:8180/alice/ with ``granian --interface wsgi myproject.wsgi:application
--workers 1 --blocking-threads 4`` on ports 8101-8103 (granian: a WSGI server whose HTTP side
is Rust, several times cheaper per request than gunicorn for the webhook: bench/README.md). No
process owns a dialog: nginx sends each request to the next process, which continues the
dialog from the session store (Redis when REDIS_URL is set, else the database: PostgreSQL
for processes on several machines, SQLite on one). A process that exits is started again;
Ctrl+C stops everything. The processes run with DEBUG=0 whatever the environment says
(production_env in deploy/supervisor.py); nginx speaks plain HTTP, and Alice calls skills
over HTTPS only: TLS goes in front of it. The nginx config is rendered from
deploy/alice/nginx.conf.template into the run directory. See deploy/alice/README.md and
docs/alice.md.
"""

import argparse
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BASE_DIR))

from deploy.supervisor import (  # noqa: E402
    RecipeError,
    Supervisor,
    find_nginx,
    plain_http_warning,
    prepare_nginx,
    production_env,
    raise_open_files_limit,
    render_nginx_config,
)

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
MEMORY_STORE = "alice.engine.storage.MemorySessionStore"
# Threads that run the webhook in each process. More only add GIL hand-offs: with 8, the
# durable store's throughput fell and its p99 rose (figures: bench/README.md, "Alice over HTTP").
DEFAULT_THREADS = 4
# Names the process that answered: for watching the round robin, never in production (it
# tells anyone the addresses behind the balancer).
UPSTREAM_HEADER = "            add_header X-Alice-Upstream $upstream_addr always;"


def store_problem(processes: int, env: dict[str, str]) -> str | None:
    """Return why *processes* processes cannot share dialogs with *env*, or None."""
    store = env.get("ALICE_SESSION_STORE", "")
    if processes > 1 and store == MEMORY_STORE:
        return (
            f"ALICE_SESSION_STORE is {MEMORY_STORE}: each process would know only the "
            "dialogs it served; use Redis (REDIS_URL) or the database"
        )
    return None


def server_command(port: int, threads: int) -> list[str]:
    """Return the command line of one webhook process on *port* with *threads* threads."""
    return [
        sys.executable,
        "-m",
        "granian",
        *("--interface", "wsgi", "--no-ws", "myproject.wsgi:application"),
        *("--host", "127.0.0.1", "--port", str(port)),
        # One worker process: the dialogs' generators live in it; more processes are more
        # ports behind the balancer, so that none owns a dialog.
        *("--workers", "1", "--blocking-threads", str(threads)),
        *("--workers-kill-timeout", "5", "--log-level", "warning"),
    ]


def nginx_config(
    *, listen: str, ports: list[int], run_dir: Path, access_log: bool, upstream_header: bool
) -> str:
    """Return the nginx config for processes on *ports*, nginx listening on *listen*."""
    return render_nginx_config(
        TEMPLATE,
        listen=listen,
        upstreams=[f"127.0.0.1:{port}" for port in ports],
        run_dir=run_dir,
        access_log=access_log,
        debug_headers=UPSTREAM_HEADER if upstream_header else "",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", "-n", type=int, default=2, help="server processes")
    parser.add_argument("--base-port", type=int, default=8101, help="port of the first one")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads per process")
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--port", type=int, default=8180, help="port nginx listens on")
    parser.add_argument("--run-dir", type=Path, default=BASE_DIR / "deploy" / "run" / "alice")
    parser.add_argument("--access-log", action="store_true", help="nginx access log in run dir")
    parser.add_argument(
        "--upstream-header",
        action="store_true",
        help="debugging: name the process that answered in X-Alice-Upstream",
    )
    parser.add_argument(
        "--check", action="store_true", help="render and test the nginx config, then exit"
    )
    args = parser.parse_args()

    run_dir = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        env, notes = production_env(os.environ, run_dir=run_dir, host=args.host)
    except RecipeError as error:
        parser.error(str(error))
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

    ports = [args.base_port + i for i in range(args.processes)]
    nginx_command = prepare_nginx(
        nginx,
        run_dir,
        nginx_config(
            listen=f"{args.host}:{args.port}",
            ports=ports,
            run_dir=run_dir,
            access_log=args.access_log,
            upstream_header=args.upstream_header,
        ),
    )
    config = run_dir / "nginx.conf"
    if args.check:
        print(f"alice-cluster: {config} is valid", flush=True)
        return 0
    url = f"http://{args.host}:{args.port}/alice/"
    why_tls = ["Alice calls a skill's webhook over HTTPS only."]
    for line in [*notes, *plain_http_warning(url, args.host, why_tls)]:
        print(f"alice-cluster: {line}", flush=True)
    if args.upstream_header:
        print("alice-cluster: X-Alice-Upstream names the process that answered", flush=True)
    print(
        f"alice-cluster: {url} -> granian on ports {', '.join(map(str, ports))}, round robin, "
        f"DEBUG=0 (config {config})",
        flush=True,
    )
    limit_note = raise_open_files_limit()
    if limit_note:
        print(f"alice-cluster: {limit_note}", flush=True)
    servers = {port: server_command(port, args.threads) for port in ports}
    return Supervisor(servers, nginx_command, name="alice-cluster", kind="granian", env=env).run()


if __name__ == "__main__":
    sys.exit(main())
