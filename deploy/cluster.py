#!/usr/bin/env python3
"""
Run the site as N ASGI (daphne) processes on consecutive ports behind nginx.

    REDIS_URL=redis://127.0.0.1:6379/0 python deploy/cluster.py --processes 2

serves http://127.0.0.1:8080/ with daphne on 8001 and 8002. nginx balances
HTTP and WebSockets across the processes; Redis carries each chat message to
the sockets on every process. A daphne process that exits is started again
(kill one to see the chat reconnect and catch up); Ctrl+C stops everything.

The nginx config is rendered from deploy/nginx.conf.template into the run
directory (deploy/run/ by default). See docs/deploy.md.
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

BASE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"

MIME_TYPES = """types {
    text/html html;
    text/css css;
    text/plain txt;
    application/javascript js mjs;
    application/json json map;
    image/svg+xml svg;
    image/png png;
    image/x-icon ico;
    font/woff2 woff2;
}
"""


def render_nginx_config(
    *,
    listen: str,
    upstreams: list[str],
    run_dir: Path,
    static_root: Path | None,
    access_log: bool = False,
) -> str:
    """Return the nginx config for *upstreams* ("host:port"), from the template."""
    if static_root is None:
        # Django (WhiteNoise) serves /static/ through the upstreams.
        static_location = "        # /static/ is served by Django (WhiteNoise)."
    else:
        static_location = (
            "        location /static/ {\n"
            f"            alias {static_root}/;\n"
            "            expires 1h;\n"
            "        }"
        )
    values = {
        "run_dir": str(run_dir),
        "mime_types": str(run_dir / "mime.types"),
        "access_log": str(run_dir / "access.log") if access_log else "off",
        "listen": listen,
        "upstream_servers": "\n".join(
            f"        server {address} max_fails=1 fail_timeout=2s;" for address in upstreams
        ),
        "static_location": static_location,
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    leftover = re.findall(r"@\w+@", text)
    if leftover:
        raise ValueError(f"unfilled placeholders in {TEMPLATE}: {leftover}")
    return text


def daphne_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daphne",
        "--bind",
        host,
        "--port",
        str(port),
        # Client addresses and scheme from nginx's X-Forwarded-* headers.
        "--proxy-headers",
        "myproject.asgi:application",
    ]


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], cwd=BASE_DIR, check=True)


class Supervisor:
    """Start the processes, restart a daphne that exits, stop all on a signal."""

    def __init__(self, daphnes: dict[int, list[str]], nginx: list[str]) -> None:
        self.daphnes = daphnes
        self.nginx_command = nginx
        self.running: dict[int, subprocess.Popen] = {}
        self.nginx: subprocess.Popen | None = None
        self.stopping = False

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(command, cwd=BASE_DIR)

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            for port, command in self.daphnes.items():
                self.running[port] = self._spawn(command)
                print(f"cluster: daphne on port {port}, pid {self.running[port].pid}", flush=True)
            self.nginx = self._spawn(self.nginx_command)
            print(f"cluster: nginx pid {self.nginx.pid}", flush=True)
            while not self.stopping:
                time.sleep(0.2)
                if self.nginx.poll() is not None and not self.stopping:
                    print(f"cluster: nginx exited ({self.nginx.returncode})", flush=True)
                    return 1
                for port, process in list(self.running.items()):
                    if process.poll() is not None and not self.stopping:
                        print(
                            f"cluster: daphne on port {port} exited ({process.returncode}),"
                            " starting it again",
                            flush=True,
                        )
                        time.sleep(0.5)
                        self.running[port] = self._spawn(self.daphnes[port])
                        print(
                            f"cluster: daphne on port {port}, pid {self.running[port].pid}",
                            flush=True,
                        )
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
                process.terminate()
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", "-n", type=int, default=2, help="ASGI processes")
    parser.add_argument("--base-port", type=int, default=8001, help="port of the first one")
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--port", type=int, default=8080, help="port nginx listens on")
    parser.add_argument("--run-dir", type=Path, default=BASE_DIR / "deploy" / "run")
    parser.add_argument(
        "--static",
        choices=["nginx", "django"],
        default="nginx",
        help="nginx: collectstatic, then nginx serves /static/ (default); "
        "django: WhiteNoise serves it through the processes",
    )
    parser.add_argument("--no-migrate", action="store_true", help="skip manage.py migrate")
    parser.add_argument("--access-log", action="store_true", help="nginx access log in run dir")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    if args.processes > 1 and not os.environ.get("REDIS_URL"):
        parser.error(
            "REDIS_URL is not set: without Redis each process has its own in-memory "
            "channel layer and a message would reach only the sockets of its own process"
        )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        parser.error("nginx is not installed (apt-get install nginx)")

    run_dir = args.run_dir.resolve()
    for sub in ("tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    (run_dir / "mime.types").write_text(MIME_TYPES)

    if not args.no_migrate:
        manage("migrate", "--no-input")
    static_root = None
    if args.static == "nginx":
        manage("collectstatic", "--no-input", "--verbosity", "0")
        sys.path.insert(0, str(BASE_DIR))
        from django.conf import settings

        static_root = Path(settings.STATIC_ROOT).resolve()

    ports = [args.base_port + i for i in range(args.processes)]
    config = run_dir / "nginx.conf"
    config.write_text(
        render_nginx_config(
            listen=f"{args.host}:{args.port}",
            upstreams=[f"127.0.0.1:{port}" for port in ports],
            run_dir=run_dir,
            static_root=static_root,
            access_log=args.access_log,
        )
    )
    nginx_command = [nginx, "-e", "stderr", "-p", str(run_dir), "-c", str(config)]
    subprocess.run([*nginx_command, "-t", "-q"], check=True)

    print(
        f"cluster: http://{args.host}:{args.port}/ -> daphne on ports "
        f"{', '.join(map(str, ports))} (config {config})",
        flush=True,
    )
    daphnes = {port: daphne_command("127.0.0.1", port) for port in ports}
    return Supervisor(daphnes, nginx_command).run()


if __name__ == "__main__":
    sys.exit(main())
