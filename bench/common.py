"""
What every benchmark shares: CPU and memory of processes from /proc, the run's own PostgreSQL
database and Redis keys, percentiles, tables and JSON results. Linux only (/proc).
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TICKS = os.sysconf("SC_CLK_TCK")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Processes.


def cpu_split(pid: int) -> tuple[float, float]:
    """Return (user, system) CPU seconds of *pid*, all threads ((0, 0) once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime: fields 14, 15


def cpu_seconds(*pids: int) -> float:
    return sum(sum(cpu_split(pid)) for pid in pids)


def pids_named(name: str) -> list[int]:
    """The pids of every process whose command name is *name* (``postgres``, ``redis-server``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == name:
                    found.append(int(entry))
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    return {pid: sum(cpu_split(pid)) for pid in pids}


def rss_bytes(*pids: int) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/statm") as f:
            total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return total


def tree(pid: int) -> list[int]:
    """Return *pid* and its descendants (a server and its workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(child) for child in f.read().split()]
    except OSError:
        children = []
    return [pid, *(found for child in children for found in tree(child))]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_async(coro):
    """Run *coro* on uvloop when it is installed: a cheaper load client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# The run's own database and Redis keys.


def create_database(env: dict[str, str]) -> None:
    """Create env's DATABASE_URL (loopback only) if missing, and migrate it."""
    import psycopg

    url = urlsplit(env["DATABASE_URL"])
    if url.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("benchmarks run on loopback only: point the database URL at it")
    name, admin = url.path.lstrip("/"), urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"]
    subprocess.run(manage, cwd=ROOT, env=env, check=True)


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete the keys under the run's *prefix*, nothing else; return how many."""
    import redis

    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        return sum(client.delete(*keys[i : i + 500]) for i in range(0, len(keys), 500))


# Figures.


def percentile(values: list, p: float):
    """Nearest rank of *p* (0..1) in *values* (sorted here), None if empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else None


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a and b else None


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.{1 if value >= 10 else 2}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Render *rows* as a plain-text table; *columns* is [(key, heading), ...]."""
    cells = [[heading for _, heading in columns]]
    cells += [[fmt(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    # The first column (names) to the left, the figures to the right.
    justify = [str.ljust] + [str.rjust] * (len(columns) - 1)
    lines = ["  ".join(map(lambda j, c, w: j(c, w), justify, line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def save(name: str, result: dict) -> Path:
    """Write *result* to bench/results/<name>-<time>.json and print it as one line."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=1, default=str, ensure_ascii=False))
    print(json.dumps(result, default=str, ensure_ascii=False, separators=(",", ":")))
    return path
