"""
What both cluster runners share (deploy/cluster.py for the chat, deploy/alice/cluster.py
for the Alice webhook): rendering an nginx config from a template, checking and starting
nginx, and a supervisor that starts N server processes, starts again one that exits, and
stops everything on a signal.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def render_nginx_config(
    template: Path, *, listen: str, upstreams: list[str], run_dir: Path, access_log: bool, **extra
) -> str:
    """Return the nginx config for *upstreams* ("host:port") from *template*."""
    values = {
        "run_dir": str(run_dir),
        "access_log": str(run_dir / "access.log") if access_log else "off",
        "listen": listen,
        "upstream_servers": "\n".join(
            f"        server {address} max_fails=1 fail_timeout=2s;" for address in upstreams
        ),
        **extra,
    }
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    leftover = re.findall(r"@\w+@", text)
    if leftover:
        raise ValueError(f"unfilled placeholders in {template}: {leftover}")
    return text


def find_nginx() -> str | None:
    """Return the nginx binary, or None when it is not installed."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return nginx if os.path.exists(nginx) else None


def prepare_nginx(nginx: str, run_dir: Path, config_text: str) -> list[str]:
    """Write the config into *run_dir*, test it, and return the command that runs nginx."""
    for sub in ("tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    config = run_dir / "nginx.conf"
    config.write_text(config_text)
    command = [nginx, "-e", "stderr", "-p", str(run_dir), "-c", str(config)]
    subprocess.run([*command, "-t", "-q"], check=True)
    return command


class Supervisor:
    """Start the servers and nginx, start again a server that exits, stop all on a signal."""

    def __init__(
        self,
        servers: dict[int, list[str]],
        nginx: list[str],
        *,
        name: str,
        kind: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.servers = servers
        self.nginx_command = nginx
        self.name = name  # printed before each line, e.g. "cluster"
        self.kind = kind  # what a server is, e.g. "daphne"
        self.env = env
        self.running: dict[int, subprocess.Popen] = {}
        self.nginx: subprocess.Popen | None = None
        self.stopping = False

    def say(self, text: str) -> None:
        print(f"{self.name}: {text}", flush=True)

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        # A session of its own: stopping it stops the server's children (its worker).
        return subprocess.Popen(command, cwd=BASE_DIR, env=self.env, start_new_session=True)

    def _start(self, port: int) -> None:
        self.running[port] = self._spawn(self.servers[port])
        self.say(f"{self.kind} on port {port}, pid {self.running[port].pid}")

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            for port in self.servers:
                self._start(port)
            self.nginx = self._spawn(self.nginx_command)
            self.say(f"nginx pid {self.nginx.pid}")
            while not self.stopping:
                time.sleep(0.2)
                if self.nginx.poll() is not None and not self.stopping:
                    self.say(f"nginx exited ({self.nginx.returncode})")
                    return 1
                for port, process in list(self.running.items()):
                    if process.poll() is not None and not self.stopping:
                        self.say(
                            f"{self.kind} on port {port} exited ({process.returncode}),"
                            " starting it again"
                        )
                        # Its worker may outlive it (granian's does not watch its parent)
                        # and keep the port: stop the whole group first.
                        _kill_group(process.pid)
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
            _kill_group(process.pid)  # a worker that outlived its master


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of the process group *pgid* (nothing, usually)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
