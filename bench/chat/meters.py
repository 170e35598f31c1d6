"""CPU meters around a step: the servers, this client, Redis, the bench database."""

import time
from urllib.parse import urlsplit

from . import procstat
from .client import ClientCpu
from .servers import ServerGroup


class Meters:
    """CPU of the servers, this client, Redis and the bench database's backends."""

    def __init__(self, group: ServerGroup, env: dict) -> None:
        self.group = group
        redis_port = urlsplit(env["REDIS_URL"]).port or 6379
        self.redis = procstat.redis_pid(redis_port)
        url = urlsplit(env["DATABASE_URL"])
        self.db_url = env["DATABASE_URL"]
        self.db_name = url.path.lstrip("/")

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.server0 = self.group.cpu_seconds()
        self.system0 = self.group.system_cpu_seconds()
        self.client = ClientCpu()
        self.redis0 = procstat.cpu_seconds(self.redis) if self.redis else None
        self.db = procstat.CpuMeter(procstat.postgres_backend_pids(self.db_url, self.db_name))

    def stop(self) -> dict:
        elapsed = time.perf_counter() - self.t0
        server = self.group.cpu_seconds() - self.server0
        result = {
            "elapsed": elapsed,
            "server_cpu": server,
            "server_cpu_pct": 100 * server / elapsed,
            # How much of it the kernel spent (syscalls, thread wake-ups).
            "server_sys_share": (
                round((self.group.system_cpu_seconds() - self.system0) / server, 2)
                if server
                else None
            ),
            "client_cpu_pct": 100 * self.client.used() / elapsed,
            # Redis and PostgreSQL are shared with others: indicative only.
            "redis_cpu_pct": (
                100 * (procstat.cpu_seconds(self.redis) - self.redis0) / elapsed
                if self.redis
                else None
            ),
            "db_cpu_pct": 100 * self.db.used() / elapsed if self.db.pids else None,
        }
        return result
