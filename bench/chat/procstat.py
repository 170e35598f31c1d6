"""CPU time and memory of processes, read from /proc (Linux only)."""

import os
import subprocess

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of *pid* (0.0 if it is gone)."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """Return (user, system) CPU seconds of *pid*, all threads ((0, 0) if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0.0
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def rss_bytes(pid: int) -> int:
    """Return the resident set size of *pid* in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError):
        return 0


def pids_named(name: str) -> list[int]:
    """Return the pids whose command name is *name* (e.g. redis-server)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == name:
                    found.append(int(entry))
        except OSError:
            continue
    return found


def redis_pid(port: int = 6379) -> int | None:
    """Return the pid of the local redis-server on *port*, if it can be told."""
    for pid in pids_named("redis-server"):
        try:
            with open(f"/proc/{pid}/cmdline") as f:
                if f":{port}" in f.read():
                    return pid
        except OSError:
            continue
    return None


def postgres_backend_pids(database_url: str, dbname: str) -> list[int]:
    """Return the pids of the PostgreSQL backends connected to *dbname*."""
    try:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [dbname],
            ).fetchall()
    except Exception:
        return []
    return [pid for (pid,) in rows if os.path.exists(f"/proc/{pid}")]


def total_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def descendants(pid: int) -> list[int]:
    """Return the pids of *pid*'s children, grandchildren and so on."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(child) for child in f.read().split()]
    except OSError:
        return []
    return [found for child in children for found in (child, *descendants(child))]


def tree_cpu(pid: int) -> float:
    """Return the CPU seconds of *pid* and its descendants (a server and its workers)."""
    return total_cpu([pid, *descendants(pid)])


class CpuMeter:
    """CPU seconds used by a set of processes since the meter was (re)started."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = list(pids)
        self.start()

    def start(self) -> None:
        self.base = {pid: cpu_seconds(pid) for pid in self.pids}

    def add(self, pids: list[int]) -> None:
        """Track more processes (new database backends) from now on."""
        for pid in pids:
            if pid not in self.base:
                self.pids.append(pid)
                self.base[pid] = cpu_seconds(pid)

    def used(self) -> float:
        return sum(max(0.0, cpu_seconds(pid) - self.base[pid]) for pid in self.pids)


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def has_py_spy() -> bool:
    try:
        subprocess.run(["py-spy", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True
