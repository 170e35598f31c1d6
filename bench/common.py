"""
What every benchmark and attack script shares: process CPU and memory from /proc, percentiles,
tables and JSON results, py-spy profiles, and the disposable PostgreSQL database and Redis key
prefix of a run. Linux only (/proc).
"""

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
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


def rss_bytes(*pids: int) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def tree(pid: int) -> list[int]:
    """Return *pid* and its descendants (a server and its workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(child) for child in f.read().split()]
    except OSError:
        children = []
    return [pid, *(found for child in children for found in tree(child))]


def redis_pid(port: int = 6379) -> int | None:
    """Return the pid of the local redis-server on *port*, if it can be told."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/comm") as comm, open(f"/proc/{entry}/cmdline") as line:
                if comm.read().strip() == "redis-server" and f":{port}" in line.read():
                    return int(entry)
        except OSError:
            continue
    return None


def postgres_pids(database_url: str) -> list[int]:
    """Return the pids of the PostgreSQL backends connected to *database_url*'s database."""
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [urlsplit(database_url).path.lstrip("/")],
            ).fetchall()
    except psycopg.Error:
        return []
    return [pid for (pid,) in rows if os.path.exists(f"/proc/{pid}")]


def self_cpu() -> float:
    times = os.times()
    return times.user + times.system


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def tree_state(tree: Path, *paths: str) -> dict:
    """The commit of *tree* measured and its files changed since, under *paths* (git)."""
    git = ["git", "-C", str(tree)]
    commit = subprocess.run([*git, "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--", *paths], capture_output=True, text=True
    )
    return {"commit": commit.stdout.strip(), "changed": changed.stdout.splitlines()}


def run_async(coro):
    """Run *coro* on uvloop when it is installed: a cheaper load client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# Figures.


def percentile(values: list, p: float):
    """Nearest rank of *p* (0..1) in *values* (sorted here), None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a and b else None


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return (
            f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"
        )
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


# py-spy: where the time goes.

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def module_of(frame: str) -> str:
    """Return the dotted module of a py-spy frame ``func (/path/file.py:line)``."""
    match = FRAME.match(frame)
    path = match["file"] if match else ""
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1].lstrip(".0123456789/")
            break
    return path.removesuffix(".py").replace("/", ".")


class Profiler:
    """py-spy sampling the GIL holder of one process (non-blocking) for *seconds*."""

    def __init__(self, pid: int, seconds: float, output: Path) -> None:
        exe = shutil.which("py-spy", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        self.output, self.proc = output, None
        if exe is None:
            print("py-spy not found: pip install -r bench/requirements.txt", file=sys.stderr)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        # Non-blocking: pausing the process for each sample changes where it spends its time;
        # the price is a torn stack now and then. Only the GIL holder: where the CPU goes.
        command = [exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
        command += ["--rate", "200", "--format", "raw", "--nonblocking", "--gil"]
        self.proc = subprocess.Popen(
            [*command, "--full-filenames", "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        time.sleep(0.5)  # py-spy attaches

    def finish(self, owners: list[tuple[str, tuple[str, ...]]] = (), top: int = 15) -> dict | None:
        """
        Wait for py-spy; return the hottest frames by own and inclusive time, and, with
        *owners* [(name, module prefixes)], each sample charged to its innermost owned frame.
        """
        if self.proc is None:
            return None
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        if self.proc.returncode != 0 or not self.output.exists():
            print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
            return None
        own, inclusive, owned, total = Counter(), Counter(), Counter(), 0
        for line in self.output.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n, frames = int(count), stack.split(";")
            frames = frames[1:] if frames[0].startswith(("process ", "thread ")) else frames
            short = [f"{f.split(' (', 1)[0]} ({module_of(f)})" for f in frames]
            total += n
            own[short[-1]] += n
            for frame in set(short):
                inclusive[frame] += n
            modules = [module_of(f) for f in reversed(frames)]
            owned[
                next(
                    (name for m in modules for name, prefixes in owners if m.startswith(prefixes)),
                    "other (threads, poller, interpreter)",
                )
            ] += n

        def shares(counter: Counter, count: int) -> list:
            return [(f, round(100 * n / total, 1)) for f, n in counter.most_common(count)]

        result = {"samples": total, "file": str(self.output.relative_to(ROOT))}
        if total:
            result |= {"self": shares(own, top), "inclusive": shares(inclusive, top * 2)}
            result |= {"owners": shares(owned, None)} if owners else {}
        return result


def print_profile(title: str, profile: dict | None) -> None:
    if not profile or not profile.get("samples"):
        return
    print(f"{title}: py-spy, {profile['samples']} samples of the GIL holder ({profile['file']})")
    for heading in ("owners", "self", "inclusive"):
        if profile.get(heading):
            print(f"  {heading} %")
            for frame, share in profile[heading]:
                print(f"  {share:6.1f}   {frame}")


# A run's own database and Redis keys.


def maintenance_url(database_url: str) -> tuple[str, str]:
    """Return the server's maintenance-database URL and the database's name (loopback only)."""
    url = urlsplit(database_url)
    if url.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("benchmarks run on loopback only: point the database URL at it")
    return urlunsplit(url._replace(path="/postgres")), url.path.lstrip("/")


def create_database(env: dict[str, str], *, drop: bool = False, cwd: Path = ROOT) -> None:
    """Create env's DATABASE_URL if missing (dropped first with *drop*), migrated by *cwd*."""
    import psycopg

    admin, name = maintenance_url(env["DATABASE_URL"])
    with psycopg.connect(admin, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"]
    subprocess.run(manage, cwd=cwd, env=env, check=True)


def drop_database(env: dict[str, str]) -> None:
    import psycopg

    admin, name = maintenance_url(env["DATABASE_URL"])
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete the keys under the run's *prefix*, nothing else; return how many."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        return sum(client.delete(*keys[i : i + 500]) for i in range(0, len(keys), 500))
    finally:
        client.close()


# The site under attack (bench/attacks/): deploy/cluster.py's server command, from a tree.


def site_env(tree: Path, name: str, database_variable: str, **extra: str) -> dict[str, str]:
    """
    The environment of the site served from *tree* with the bench's deployed settings
    (bench/chat/bench_settings.py: DEBUG off), on a database ($*database_variable*, default
    bench_<name>) and a Redis key prefix of the run's own.
    """
    mine = ("DATABASE_", "DJANGO_", "REDIS_", "PRIVATEMESSAGES_", "LOGIN_THROTTLE_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(mine)}
    database = f"postgres://postgres@127.0.0.1:5432/bench_{name}"
    env.update(
        DATABASE_URL=os.environ.get(database_variable, database),
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=f"bench-{name}-{os.urandom(4).hex()}:",
        SECRET_KEY=f"bench-only-secret-key-not-for-any-real-site-{name}-0123456789",
        DJANGO_SETTINGS_MODULE="bench.chat.bench_settings",
        PYTHONPATH=str(tree),
        PYTHONDONTWRITEBYTECODE="1",
        STATIC_ROOT=str(RESULTS / "static"),
        LOG_LEVEL="WARNING",
    )
    (RESULTS / "static").mkdir(parents=True, exist_ok=True)
    return env | extra


def prepare_site(env: dict[str, str], tree: Path, script: str) -> str:
    """Make the run's database afresh with *tree*'s migrations, run *script* in its Django
    shell; return the script's output."""
    create_database(env, drop=True, cwd=tree)
    shell = [sys.executable, "manage.py", "shell", "-c", script]
    done = subprocess.run(shell, cwd=tree, env=env, check=True, capture_output=True, text=True)
    return done.stdout


@contextlib.contextmanager
def site(env: dict[str, str], tree: Path, processes: int, label: str):
    """Serve *tree* as deploy/cluster.py runs each process; yield the started servers, then
    stop them and drop the run's database and Redis keys."""
    from deploy.cluster import server_command
    from deploy.processes import Started, free_port

    servers = []
    try:
        for port in [free_port() for _ in range(processes)]:
            log = RESULTS / f"{label}-{port}.log"
            server = Started(server_command(HOST, port), port=port, log=log, env=env, cwd=tree)
            try:
                servers.append(server.start(60))
            except RuntimeError as error:
                raise SystemExit(f"{error}\nsee {log}") from None
        yield servers
    finally:
        for server in servers:
            server.stop(15)
        delete_redis_keys(env["REDIS_URL"], env["REDIS_KEY_PREFIX"])
        drop_database(env)
