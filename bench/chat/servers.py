"""
The servers under test as real processes, each kind on P consecutive loopback ports:
``ours`` (the project's ASGI app as deploy/cluster.py runs it, uvicorn, or under daphne to
compare), ``peer`` (bench/chat/peer under daphne) and ``ceiling`` (bench/chat/ceiling.py);
and the CPU meters around a step.
"""

import signal
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench import common
from bench.common import BIN, HOST, RESULTS, cpu_seconds
from deploy.cluster import server_command
from deploy.processes import Started, free_ports, signal_group, stop_group, tail

KINDS = ("ours", "peer", "ceiling")
DEPLOYED_SERVER = "uvicorn"  # deploy/cluster.py's; ours runs with its exact command line


def command(kind: str, port: int, server: str) -> list[str]:
    if kind == "ceiling":
        return [sys.executable, "-m", "bench.chat.ceiling", str(port)]
    if kind == "ours" and server == DEPLOYED_SERVER:
        return server_command(HOST, port)
    app = "myproject.asgi:application" if kind == "ours" else "bench.chat.peer.asgi:application"
    return [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "-v", "0", app]


@dataclass
class ServerGroup:
    """P processes of one kind (the command line's --procs, --server, --ours-env)."""

    kind: str
    args: object
    env: dict[str, str]
    ports: list[int] = field(default_factory=list)
    started: list[Started] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.started]

    @property
    def command(self) -> str:
        return " ".join(command(self.kind, self.ports[0], self.server))

    @property
    def server(self) -> str:
        return self.args.server if self.kind == "ours" else "daphne"

    def start(self, timeout: float = 60.0) -> None:
        self.ports = free_ports(
            self.args.procs, {"ours": 18100, "peer": 18200}.get(self.kind, 18300)
        )
        env = self.env | (self.args.ours_env if self.kind == "ours" else {})
        if self.kind == "peer":
            env["DJANGO_SETTINGS_MODULE"] = "bench.chat.peer.settings"
        (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
        try:
            for port in self.ports:  # all at once, then wait for each
                log = RESULTS / "logs" / f"{self.kind}-{port}.log"
                log.unlink(missing_ok=True)
                argv = command(self.kind, port, self.server)
                self.started.append(Started(argv, port=port, log=log, env=env).start(ports=[]))
            for process in self.started:
                process.wait_for_port(process.port, timeout)
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return all(p.running() for p in self.started)

    def stop(self) -> None:
        for p in self.started:  # all at once, then wait for each
            if p.running():
                signal_group(p.pid, signal.SIGTERM)
        for p in self.started:
            stop_group(p.process, 10, signum=None)
        self.started.clear()

    def rss_bytes(self) -> int:
        return common.rss_bytes(*self.pids)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"--- {p.log.name}\n{tail(p.log, lines)}" for p in self.started)


class Meters:
    """CPU of the servers, this client, Redis and the bench database's backends."""

    def __init__(self, group: ServerGroup, env: dict) -> None:
        self.group, self.db_url = group, env["DATABASE_URL"]
        self.redis = common.redis_pid(urlsplit(env["REDIS_URL"]).port or 6379)

    def read(self) -> tuple[float, ...]:
        pids = self.group.pids
        system = sum(common.cpu_split(pid)[1] for pid in pids)
        redis = cpu_seconds(self.redis) if self.redis else 0.0
        return time.perf_counter(), cpu_seconds(*pids), system, common.self_cpu(), redis

    def start(self) -> None:
        self.db = common.postgres_pids(self.db_url)
        self.before, self.db_before = self.read(), cpu_seconds(*self.db)

    def stop(self) -> dict:
        elapsed, server, system, client, redis = (
            a - b for a, b in zip(self.read(), self.before, strict=True)
        )
        return {
            "elapsed": elapsed,
            "server_cpu": server,
            "server_cpu_pct": 100 * server / elapsed,
            # How much of it the kernel spent (syscalls, thread wake-ups).
            "server_sys_share": round(system / server, 2) if server else None,
            "client_cpu_pct": 100 * client / elapsed,
            # Redis and PostgreSQL are shared with others: indicative only.
            "redis_cpu_pct": 100 * redis / elapsed if self.redis else None,
            "db_cpu_pct": 100 * (cpu_seconds(*self.db) - self.db_before) / elapsed
            if self.db
            else None,
        }
