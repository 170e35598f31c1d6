"""
What both cluster runners share (deploy/cluster.py for the chat, deploy/alice/cluster.py
for the Alice webhook): the production settings the processes run with, rendering an nginx
config from a template, checking and starting nginx, and a supervisor that starts N server
processes, starts again one that exits, and stops everything on a signal.
"""

import ipaddress
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from deploy.processes import signal_group, spawn, stop_group

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# Open files each process may need: nginx's worker_connections (client and upstream
# connections both count) with room for its files, and as many sockets for a server.
OPEN_FILES = 16384


class RecipeError(Exception):
    """The recipe cannot run as asked; the message says what to change."""


def is_loopback(host: str) -> bool:
    """Return True if *host* (a name or an address nginx listens on) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> list[str]:
    """
    Return the ALLOWED_HOSTS that cover what the cluster serves when nginx listens on
    *host*: that address, and loopback (the processes themselves listen on 127.0.0.1).
    """
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if host in ("", "*") or (address is not None and address.is_unspecified):
        # Every interface: the names clients will use are not known here.
        raise RecipeError(
            f"nginx would listen on every address ({host or '*'}): set ALLOWED_HOSTS to the "
            "names and addresses clients use"
        )
    if address is not None and address.version == 6:
        host = f"[{address}]"
    return list(dict.fromkeys([host, *LOOPBACK_HOSTS]))


def secret_key(path: Path) -> str:
    """
    Return the SECRET_KEY kept in *path*, created on first use readable by this user only.

    Kept rather than made anew at each start, so that a restart of the cluster keeps everyone
    signed in (the session's auth hash is an HMAC under the key); one key for all the
    processes, since any of them must verify what another signed (that hash, the messages
    cookie). Sessions themselves live in the database, not in the cookie.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            raise RecipeError(
                f"{path} may be read by other users: chmod 600 it, or delete it for a new key"
            ) from None
        key = path.read_text().strip()
        if not key:
            raise RecipeError(f"{path} is empty: delete it for a new key") from None
        return key
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


def production_env(
    environ: Mapping[str, str], *, run_dir: Path, host: str
) -> tuple[dict[str, str], list[str]]:
    """
    Return the environment of the Django processes (and of their manage.py commands), and
    notes to print: DEBUG off whatever *environ* says, and the settings DEBUG off requires.

    SECRET_KEY and ALLOWED_HOSTS come from *environ* when set there; otherwise the key is
    kept in *run_dir* (secret_key()) and the hosts are what nginx serves on *host*
    (allowed_hosts()).
    """
    env = dict(environ)
    notes = []
    env.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    # What myproject/settings.py's env_bool reads as true.
    if env.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        notes.append(
            f"DEBUG={env['DEBUG']} in the environment is ignored: the recipe runs with DEBUG=0"
        )
    # Error pages that show settings, tracebacks and the URLconf are for runserver only.
    env["DEBUG"] = "0"
    # nginx here speaks plain HTTP and says so to the processes (X-Forwarded-Proto): a
    # redirect to https:// would lead to nothing. TLS belongs in front of this nginx.
    env["SECURE_SSL_REDIRECT"] = "0"
    if not env.get("SECRET_KEY"):
        path = run_dir / SECRET_KEY_FILE
        env["SECRET_KEY"] = secret_key(path)
        notes.append(f"SECRET_KEY is not set: using the one kept in {path}")
    if not env.get("ALLOWED_HOSTS"):
        env["ALLOWED_HOSTS"] = ",".join(allowed_hosts(host))
    return env, notes


def plain_http_warning(url: str, host: str, why_tls: list[str]) -> list[str]:
    """
    Return the banner printed at startup: *url* is plain HTTP, a local demo; *why_tls* says
    what of this site breaks without TLS in front.
    """
    reach = (
        "only this machine can reach it"
        if is_loopback(host)
        else f"other machines reach it unencrypted on {host}"
    )
    lines = [
        f"{url} is plain HTTP ({reach}): a local demo, not a deployment.",
        "In production put TLS in front of this nginx (or terminate it in nginx),",
        "and set SECRET_KEY and ALLOWED_HOSTS in the environment.",
        *why_tls,
    ]
    width = max(map(len, lines))
    return ["*" * width, *lines, "*" * width]


def raise_open_files_limit(wanted: int = OPEN_FILES) -> str | None:
    """
    Raise this process's limit of open files towards *wanted* (nginx and the servers inherit
    it): a soft limit of 1024, common, would make nginx refuse connections long before
    worker_connections. Return a note when the hard limit keeps it below *wanted*.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        return (
            f"open files are limited to {target} (ulimit -Hn): nginx may refuse connections "
            f"in a burst; {wanted} are wanted"
        )
    return None


def render_nginx_config(
    template: Path, *, listen: str, upstreams: list[str], run_dir: Path, access_log: bool, **extra
) -> str:
    """Return the nginx config for *upstreams* ("host:port") from *template*."""
    values = {
        "run_dir": str(run_dir),
        "access_log": str(run_dir / "access.log") if access_log else "off",
        "listen": listen,
        # max_fails=0: nginx keeps no count of failures and never takes a process out of
        # the rotation. With a count, every read timeout is a failure whatever
        # proxy_next_upstream says, so one slow answer would take a healthy process out,
        # and a slow request sent to each in turn all of them ("no live upstreams").
        # A process that is down costs only a refused connection on loopback, after
        # which the request goes to the next one (proxy_next_upstream error).
        "upstream_servers": "\n".join(
            f"        server {address} max_fails=0;" for address in upstreams
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
        return spawn(command, env=self.env)

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
                        signal_group(process.pid, signal.SIGKILL)
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
        for process in processes:  # all at once, then wait for each
            if process.poll() is None:
                signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes:
            stop_group(process, max(0.1, deadline - time.monotonic()), signum=None)
