"""
The servers under test, each kind as P processes on consecutive loopback ports: ``ours`` (the
project as deploy/cluster.py runs it), ``peer`` (bench/chat/peer.py under daphne) and
``ceiling`` (bench/chat/ceiling.py); and the meters read around a step.
"""

import os
import signal
import sys
import time
from collections import Counter

from bench import common
from deploy.cluster import server_command
from deploy.processes import Started, free_ports, signal_group, tail

KINDS = ("ours", "peer", "ceiling")


class ServerGroup:
    def __init__(self, kind: str, procs: int, env: dict[str, str]) -> None:
        self.kind, self.started = kind, []
        self.ports = free_ports(procs, {"ours": 18100, "peer": 18200}.get(kind, 18300))
        if kind == "peer":
            env = env | {"DJANGO_SETTINGS_MODULE": "bench.chat.peer"}
        self.env = env

    def command(self, port: int) -> list[str]:
        if self.kind == "ours":
            return server_command(common.HOST, port)
        if self.kind == "peer":
            daphne = [str(common.BIN / "daphne"), "-b", common.HOST, "-v", "0"]
            return [*daphne, "-p", str(port), "bench.chat.peer:application"]
        return [sys.executable, "-m", "bench.chat.ceiling", str(port)]

    def start(self) -> None:
        """Start every process at once, then wait for each to listen."""
        (common.RESULTS / "logs").mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            log = common.RESULTS / "logs" / f"{self.kind}-{port}.log"
            log.unlink(missing_ok=True)
            process = Started(self.command(port), port=port, log=log, env=self.env)
            self.started.append(process.start(ports=[]))
        for process in self.started:
            process.wait_for_port(process.port, 60)

    def stop(self) -> None:
        for process in self.started:  # all at once, then wait for each
            if process.running():
                signal_group(process.pid, signal.SIGTERM)
        for process in self.started:
            process.stop(10, signum=None)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.started]

    def alive(self) -> bool:
        return all(p.running() for p in self.started)

    def rss_bytes(self) -> int:
        return common.rss_bytes(*self.pids)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"--- {p.log.name}\n{tail(p.log, lines)}" for p in self.started)


def counters(env: dict[str, str]) -> Counter:
    """
    The bench database's transactions so far (pg_stat_database: commits + rollbacks; a
    backend reports its own within a second of a busy one, ten of an idle one) and Redis's
    commands by name (INFO commandstats: the whole server's, shared with anyone else).
    """
    import psycopg
    import redis

    query = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        found = Counter({"db_xacts": conn.execute(query, [conn.info.dbname]).fetchone()[0]})
    with redis.Redis.from_url(env["REDIS_URL"]) as client:
        stats = client.info("commandstats")
    return found + Counter({name[8:]: s["calls"] for name, s in stats.items()})  # cmdstat_


# The services whose CPU a run reports beside the servers' (their process names).
SERVICES = ("postgres", "redis-server")


class Meters:
    """The servers' CPU, this client's, and the bench database's and Redis's work."""

    def __init__(self, group: ServerGroup) -> None:
        self.group = group

    def read(self) -> tuple:
        times, pids = os.times(), self.group.pids
        system = sum(common.cpu_split(pid)[1] for pid in pids)
        cpu = common.cpu_seconds(*pids), system, times.user + times.system
        # PostgreSQL's and Redis's processes (every backend: the machine's, not
        # only the bench's), by pid, so that a backend that started meanwhile
        # counts from zero.
        services = {name: common.cpu_by_pid(common.pids_named(name)) for name in SERVICES}
        return time.perf_counter(), cpu, counters(self.group.env), services

    def start(self) -> None:
        self.before = self.read()

    def stop(self) -> dict:
        (now, cpu, counted, services), (then, cpu_then, counted_then, services_then) = (
            self.read(),
            self.before,
        )
        elapsed = now - then
        server, system, client = (a - b for a, b in zip(cpu, cpu_then, strict=True))
        service_cpu = {
            name: sum(
                cpu - services_then[name].get(pid, 0.0) for pid, cpu in services[name].items()
            )
            for name in SERVICES
        }
        redis = counted - counted_then
        db = redis.pop("db_xacts", 0) - 1  # the reading's own transaction
        return {
            "elapsed": elapsed,
            "server_cpu": server,
            "server_cpu_pct": 100 * server / elapsed,
            # How much of it the kernel spent (syscalls, thread wake-ups).
            "server_sys_share": round(system / server, 2) if server else None,
            "client_cpu_pct": 100 * client / elapsed,
            "postgres_cpu": service_cpu["postgres"],
            "redis_cpu": service_cpu["redis-server"],
            "db_xact_per_s": db / elapsed,
            "redis_cmd_per_s": redis.total() / elapsed,
            "redis_top_per_s": {k: round(n / elapsed, 1) for k, n in redis.most_common(5)},
        }
