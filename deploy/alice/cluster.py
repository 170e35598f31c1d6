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
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
MEMORY_STORE = "alice.engine.storage.MemorySessionStore"


def render_nginx_config(*, listen: str, upstreams: list[str], run_dir: Path, access_log: bool):
    """Return the nginx config for *upstreams* ("host:port"), from the template."""
    values = {
        "run_dir": str(run_dir),
        "access_log": str(run_dir / "access.log") if access_log else "off",
        "listen": listen,
        "upstream_servers": "\n".join(
            f"        server {address} max_fails=1 fail_timeout=2s;" for address in upstreams
        ),
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    leftover = re.findall(r"@\w+@", text)
    if leftover:
        raise ValueError(f"unfilled placeholders in {TEMPLATE}: {leftover}")
    return text


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
    ]


class Supervisor:
    """Start the processes, start again a gunicorn that exits, stop all on a signal."""

    def __init__(self, servers: dict[int, list[str]], nginx: list[str], env: dict[str, str]):
        self.servers = servers
        self.nginx_command = nginx
        self.env = env
        self.running: dict[int, subprocess.Popen] = {}
        self.nginx: subprocess.Popen | None = None
        self.stopping = False

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        # A session of its own: stopping it stops gunicorn's worker too.
        return subprocess.Popen(command, cwd=BASE_DIR, env=self.env, start_new_session=True)

    def _start(self, port: int) -> None:
        self.running[port] = self._spawn(self.servers[port])
        print(f"alice-cluster: gunicorn on {port}, pid {self.running[port].pid}", flush=True)

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            for port in self.servers:
                self._start(port)
            self.nginx = self._spawn(self.nginx_command)
            print(f"alice-cluster: nginx pid {self.nginx.pid}", flush=True)
            while not self.stopping:
                time.sleep(0.2)
                if self.nginx.poll() is not None and not self.stopping:
                    print(f"alice-cluster: nginx exited ({self.nginx.returncode})", flush=True)
                    return 1
                for port, process in list(self.running.items()):
                    if process.poll() is not None and not self.stopping:
                        print(
                            f"alice-cluster: gunicorn on {port} exited ({process.returncode}),"
                            " starting it again",
                            flush=True,
                        )
                        time.sleep(0.5)
                        self._start(port)
            return 0
        finally:
            self._stop_all()

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True

    def _stop_all(self) -> None:
        self.stopping = True
        processes = [p for p in [self.nginx, *self.running.values()] if p is not None]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


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
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        parser.error("nginx is not installed (apt-get install nginx)")

    run_dir = args.run_dir.resolve()
    for sub in ("tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    ports = [args.base_port + i for i in range(args.processes)]
    config = run_dir / "nginx.conf"
    config.write_text(
        render_nginx_config(
            listen=f"{args.host}:{args.port}",
            upstreams=[f"127.0.0.1:{port}" for port in ports],
            run_dir=run_dir,
            access_log=args.access_log,
        )
    )
    nginx_command = [nginx, "-e", "stderr", "-p", str(run_dir), "-c", str(config)]
    subprocess.run([*nginx_command, "-t", "-q"], check=True)
    if args.check:
        print(f"alice-cluster: {config} is valid", flush=True)
        return 0
    print(
        f"alice-cluster: http://{args.host}:{args.port}/alice/ -> gunicorn on ports "
        f"{', '.join(map(str, ports))}, round robin (config {config})",
        flush=True,
    )
    servers = {port: gunicorn_command(port, args.threads) for port in ports}
    return Supervisor(servers, nginx_command, env).run()


if __name__ == "__main__":
    sys.exit(main())
