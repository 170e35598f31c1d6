"""
Benchmark the Alice webhook over HTTP: the four-turn README dialog, many sessions at once.

Targets (servers started here, one process each, loopback only):

- ``webhook``: this project's webhook as docs/alice.md deploys it, deploy/alice/cluster.py's
  ``granian --interface wsgi myproject.wsgi:application --workers 1 --blocking-threads 4``,
  production settings (DEBUG off, no HTTPS redirect: a proxy's job), POST /alice/, answered
  by the WSGI router in front of Django (alice/wsgi_mount.py). Its session store: ``:memory`` (the
  default here: the same job as alice_scripts, one process), ``:redis`` (REDIS_URL set: the
  project's durable choice) or ``:db`` (the project's choice without Redis, on a SQLite
  file of the run's own);
- ``alice_scripts``: the README script on alice_scripts 0.2.post1, as its README deploys it
  (gunicorn, one worker, threads; bench/alice_common.py adds ``inspect.getargspec`` back);
- ``trivial``: a constant JSON answer from a plain WSGI callable on the same server command
  (bench/alice_http_wsgi.py): the ceiling of the stack the webhook is answered on.

``@server`` is ``@granian`` (the deployed command: the default of webhook and trivial) or a
gunicorn gthread thread count (``@8``, the default of alice_scripts, as its README deploys
it). E.g. ``--targets webhook,webhook@8,webhook:redis,trivial@8``.

A load client in its own process (asyncio, HTTP/1.1 keep-alive parsed by httptools, one
connection per concurrent session) runs dialogs back to back for a fixed time at each
concurrency level; each dialog is a new session, and its last answer is checked. The targets
take turns in rounds so that other work on the machine slows all alike. Prints a table, one
JSON line, and saves the JSON (and the server logs and profiles) in bench/results/. Not a
test: run it by hand or with ``make bench-alice``.

    .venv/bin/python bench/alice_http.py [--levels 1,16,64] [--seconds 3] [--rounds 3]
    .venv/bin/python bench/alice_http.py --profile 10      # and sample the webhook with py-spy
"""

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.alice_common import FINAL_TEXT, ROOT, TURNS, request_body
from bench.chat.procstat import cpu_seconds, descendants
from deploy.alice.cluster import DEFAULT_THREADS, server_command
from deploy.processes import Started, free_port

DEPLOYED_APP = "myproject.wsgi:application"

RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent

# As a production webhook runs: DEBUG off, HTTPS left to the proxy, no Redis or PostgreSQL.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": os.urandom(32).hex(),
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
}
WITHOUT_ENV = (
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "ALICE_SESSION_STORE",
)
PLACEHOLDER = "@SESSION@"


# The load client (its own process: python bench/alice_http.py --client '<json>').


class Connection(asyncio.Protocol):
    """One keep-alive connection that sends a request and waits for its response."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.waiter: asyncio.Future | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:  # httptools' callbacks
        self.body.append(body)

    def on_message_complete(self) -> None:
        answer = (self.parser.get_status_code(), b"".join(self.body))
        self.body = []
        if not self.parser.should_keep_alive():
            self.transport.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def send(self, data: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


async def run_client(config: dict[str, Any]) -> dict[str, Any]:
    """Run dialogs on *concurrency* connections for *seconds*; return counts and latencies."""
    loop = asyncio.get_running_loop()
    port, path = config["port"], config["path"]
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    templates = [request_body(PLACEHOLDER, i, *turn) for i, turn in enumerate(TURNS)]
    placeholder = PLACEHOLDER.encode()
    final_text = FINAL_TEXT if config["check"] else None
    latencies: list[int] = []
    counts = Counter()

    async def connect() -> Connection:
        _, conn = await loop.create_connection(Connection, "127.0.0.1", port)
        return conn

    async def sessions(index: int, conn: Connection) -> None:
        clock = time.perf_counter_ns
        dialog = 0
        while True:
            session_id = f"{config['prefix']}-{index:04d}-{dialog:06d}".encode()
            for template in templates:
                if clock() >= deadline:
                    conn.transport.close()
                    return
                body = template.replace(placeholder, session_id)
                data = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
                t0 = clock()
                try:
                    if conn.transport.is_closing():
                        conn = await connect()
                    status, answer = await conn.send(data)
                except ConnectionError:
                    counts["errors"] += 1
                    conn = await connect()
                    break
                latencies.append((clock() - t0) // 1000)
                if status != 200:
                    counts["errors"] += 1
                    counts[f"status_{status}"] += 1
                    break
            else:
                counts["dialogs"] += 1
                if final_text is not None:
                    response = json.loads(answer)["response"]
                    if response["text"] != final_text or not response["end_session"]:
                        counts["bad_dialogs"] += 1
            dialog += 1

    conns = await asyncio.gather(*(connect() for _ in range(config["concurrency"])))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter_ns()
    deadline = started + int(config["seconds"] * 1e9)
    await asyncio.wait_for(
        asyncio.gather(*(sessions(i, conn) for i, conn in enumerate(conns))),
        config["seconds"] + 30,
    )
    elapsed = (time.perf_counter_ns() - started) / 1e9
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = used.ru_utime + used.ru_stime - usage.ru_utime - usage.ru_stime
    return {
        "requests": len(latencies),
        "elapsed": elapsed,
        "client_cpu": cpu,
        "latencies_us": latencies,
        **counts,
    }


def client_main(config: dict[str, Any]) -> None:
    if config.get("cpu") is not None:
        os.sched_setaffinity(0, {config["cpu"]})
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run_client(config))
    else:
        result = uvloop.run(run_client(config))
    # To a file, not stdout: a result of a few hundred kilobytes written to the pipe came
    # back cut at a 32 KiB boundary now and then.
    Path(config["output"]).write_text(json.dumps(result))


# The servers.


@dataclass
class Run:
    """What the servers of one run share: where durable stores keep their data."""

    stamp: str
    redis_url: str
    # Every Redis key the run writes starts with it; only those are deleted at the end.
    redis_prefix: str
    sqlite: Path


@dataclass
class Target:
    """One server configuration under test, from a spec like ``webhook:redis@8``."""

    spec: str
    kind: str
    store: str | None  # memory, redis or db: the webhook's session store
    server: str  # "granian" or a gunicorn thread count

    KINDS = ("webhook", "alice_scripts", "trivial")
    SPEC = re.compile(
        r"(?P<kind>[a-z_]+)(?::(?P<store>memory|redis|db))?(?:@(?P<server>\d+|granian))?"
    )

    @classmethod
    def parse(cls, spec: str, threads: int) -> "Target":
        match = cls.SPEC.fullmatch(spec)
        if not match or match["kind"] not in cls.KINDS:
            raise SystemExit(f"unknown target {spec!r}: kind[:store][@granian|threads]")
        kind, store = match["kind"], match["store"]
        # The webhook and its ceiling run as deployed (granian); alice_scripts as its README
        # deploys it (gunicorn), with --threads threads.
        server = match["server"] or ("granian" if kind != "alice_scripts" else str(threads))
        if kind == "webhook":
            store = store or "memory"
        elif store:
            raise SystemExit(f"{spec}: only the webhook has a session store")
        return cls(spec, kind, store, server)

    @property
    def path(self) -> str:
        return "/alice/" if self.kind == "webhook" else "/"

    @property
    def slug(self) -> str:
        """The spec, fit for a file name."""
        return re.sub(r"[^\w+-]", "-", self.spec)

    @property
    def checks_dialog(self) -> bool:
        return self.kind != "trivial"

    def env(self, extra: dict[str, str], run: Run) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in WITHOUT_ENV}
        env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="myproject.settings")
        if self.store == "memory":
            env["ALICE_SESSION_STORE"] = "alice.engine.storage.MemorySessionStore"
        elif self.store == "redis":
            # The project's choice of store when Redis is configured.
            env.update(REDIS_URL=run.redis_url, REDIS_KEY_PREFIX=run.redis_prefix)
        elif self.store == "db":
            # The project's choice without Redis, on a database of this run's own, with
            # persistent connections as docs/alice.md deploys it.
            env.update(DATABASE_URL=f"sqlite:///{run.sqlite}", DATABASE_CONN_MAX_AGE="60")
        env.update(extra)
        return env

    def command(self, port: int) -> list[str]:
        app = {
            "webhook": DEPLOYED_APP,
            "alice_scripts": "bench.alice_common:alice_scripts_skill()",
            "trivial": "bench.alice_http_wsgi:trivial",
        }[self.kind]
        if self.server == "granian":
            # deploy/alice/cluster.py's command line, with this target's application.
            command = server_command(port, threads=DEFAULT_THREADS)
            command[command.index(DEPLOYED_APP)] = app
            return command
        return [
            *(str(BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", "--workers", "1"),
            *("-k", "gthread", "--threads", self.server),
            *("--log-level", "warning", "--error-logfile", "-"),
        ]


class Server(Started):
    """A target's server process (and its workers), started and stopped here."""

    def __init__(self, target: Target, env: dict[str, str], cpu: int | None, log: Path) -> None:
        self.target = target
        port = free_port()
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        super().__init__(target.command(port), port=port, log=log, env=env, preexec_fn=pin)

    @property
    def pids(self) -> list[int]:
        """The server's processes now: the master (gunicorn's, granian's), then its worker."""
        return [self.process.pid, *descendants(self.process.pid)]

    @property
    def worker_pid(self) -> int:
        """The process that answers: gunicorn's or granian's worker."""
        return self.pids[-1]

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)


def run_load(
    server: Server, concurrency: int, seconds: float, prefix: str, cpu: int | None
) -> dict[str, Any]:
    """Drive *server* from a client process; return the client's result and server CPU."""
    config = {
        "port": server.port,
        "path": server.target.path,
        "concurrency": concurrency,
        "seconds": seconds,
        "prefix": prefix,
        "check": server.target.checks_dialog,
        "cpu": cpu,
        "output": str(RESULTS / "logs" / f"client-{os.getpid()}.json"),
    }
    command = [sys.executable, __file__, "--client", json.dumps(config)]
    before = server.cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    server_cpu = server.cpu_seconds() - before
    if done.returncode != 0:
        raise SystemExit(f"client against {server.target.spec} failed:\n{done.stderr}")
    output = Path(config["output"])
    result = json.loads(output.read_text())
    output.unlink()
    result["server_cpu"] = server_cpu
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the rounds of one target at one level."""
    latencies = sorted(lat for run in runs for lat in run["latencies_us"])
    requests = len(latencies)
    elapsed = sum(run["elapsed"] for run in runs)
    server_cpu = sum(run["server_cpu"] for run in runs)

    def ms(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(requests - 1, int(requests * p))] / 1000, 2)

    return {
        "requests": requests,
        "rps": round(requests / elapsed, 1),
        "rps_rounds": [round(run["requests"] / run["elapsed"], 1) for run in runs],
        "p50_ms": ms(0.50),
        "p90_ms": ms(0.90),
        "p99_ms": ms(0.99),
        "max_ms": ms(1.0),
        "errors": sum(run.get("errors", 0) for run in runs),
        "bad_dialogs": sum(run.get("bad_dialogs", 0) for run in runs),
        "dialogs": sum(run.get("dialogs", 0) for run in runs),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "rps_per_server_cpu_s": round(requests / server_cpu, 1) if server_cpu else None,
        "client_cpu_pct": round(100 * sum(run["client_cpu"] for run in runs) / elapsed, 1),
    }


# Where the time goes: py-spy samples of the server's worker under load.

# Each sample is charged to the innermost frame from one of these modules (leaf to root); a
# frame of a module with "middleware" in its name is charged to that middleware.
OWNERS = [
    # First: the router and the webhook core live in alice.engine too.
    (
        "webhook: router, view, HTTP core",
        ("alice.engine.router", "alice.engine.webhook", "alice.views", "alice.wsgi_mount"),
    ),
    ("engine (alice.engine, the script)", ("alice.engine.", "alice.scripts.")),
    ("trivial WSGI answer", ("bench.alice_http_wsgi",)),
    ("alice_scripts + pymorphy2", ("alice_scripts.", "<README on", "pymorphy2.", "dawg_python.")),
    ("flask + werkzeug", ("flask.", "werkzeug.")),
    ("django: middleware plumbing", ("django.utils.deprecation", "django.core.handlers.exc")),
    ("django: URL resolving", ("django.urls.",)),
    ("django: handler (base.py)", ("django.core.handlers.base",)),
    ("django: WSGI request/response", ("django.core.handlers.wsgi",)),
    ("django: signals", ("django.dispatch.",)),
    ("gunicorn", ("gunicorn.",)),
]
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def module_of(frame: str) -> tuple[str, str]:
    """Return (function, dotted module) of a py-spy frame ``func (/path/file.py:line)``."""
    match = FRAME.match(frame)
    if not match:
        return frame, ""
    path = match["file"]
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1].lstrip(".0123456789/")
            break
    return match["func"], path.removesuffix(".py").replace("/", ".")


def owner(frames: list[str]) -> str:
    for frame in reversed(frames):
        module = module_of(frame)[1]
        if "middleware" in module:
            return f"middleware: {module}"
        for name, prefixes in OWNERS:
            if module.startswith(prefixes):
                return name
    return "other (threads, poller, interpreter)"


def profile_summary(raw: Path, top: int = 15) -> dict[str, Any]:
    """Charge py-spy's collapsed stacks to owners; also the top functions by own time."""
    owners, leaves, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        frames = frames[1:] if frames[0].startswith("process ") else frames
        n = int(count)
        total += n
        owners[owner(frames)] += n
        function, module = module_of(frames[-1])
        leaves[f"{function} ({module})"] += n
    percent = {name: round(100 * n / total, 1) for name, n in owners.most_common()}
    functions = {name: round(100 * n / total, 1) for name, n in leaves.most_common(top)}
    return {"samples": total, "by_owner_pct": percent, "top_self_pct": functions}


def profile(server: Server, seconds: int, concurrency: int, stamp: str) -> dict[str, Any]:
    """Sample the worker with py-spy (the thread holding the GIL) while under load."""
    out = RESULTS / f"alice-http-pyspy-{server.target.slug}-{stamp}.txt"
    # Non-blocking: pausing the worker for each sample halved its throughput and changed
    # where gthread spends its time (more keep-alive hand-offs to the poller). The price is a
    # torn stack now and then.
    command = [str(BIN / "py-spy"), "record", "--pid", str(server.worker_pid), "--gil"]
    command += ["--nonblocking", "--full-filenames", "--rate", "200", "--format", "raw"]
    command += ["--duration", str(seconds), "-o", str(out)]
    spy = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)  # py-spy attaches
        load = run_load(server, concurrency, seconds, f"profile-{stamp}", None)
        spy.wait(seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
    if not out.exists():
        raise SystemExit(f"py-spy wrote nothing: {spy.stderr.read().decode()}")
    summary = profile_summary(out)
    summary.update(file=str(out.relative_to(ROOT)), rps=round(load["requests"] / load["elapsed"]))
    return summary


# The run.


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


DEFAULT_TARGETS = "webhook:memory,webhook:redis,alice_scripts,trivial"


def redis_reachable(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except Exception:
        return False


def store_class(server: Server) -> str:
    """Return the class of the session store the webhook's skill gets under *server*'s env."""
    code = (
        "import django; django.setup()\n"
        "from alice.scripts.acquaintance import skill\n"
        "print(type(skill.store).__module__ + '.' + type(skill.store).__qualname__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() if done.returncode == 0 else f"? {done.stderr.strip()[-200:]}"


def tree_state() -> dict[str, Any]:
    """Return the commit measured and the files changed since (read-only git)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "alice", "myproject", "bench")
    return {"commit": git("rev-parse", "--short", "HEAD"), "changed": changed.splitlines()}


def clean_up(run: Run, targets: list[Target]) -> None:
    """Delete this run's Redis keys and SQLite files, and nothing else."""
    if any(t.store == "redis" for t in targets):
        import redis

        client = redis.Redis.from_url(run.redis_url)
        keys = list(client.scan_iter(match=f"{run.redis_prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run.sqlite}{suffix}").unlink(missing_ok=True)


def main() -> None:
    if sys.argv[1:2] == ["--client"]:
        client_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", default=DEFAULT_TARGETS, help="kind[:store][@server],...")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn gthread threads")
    parser.add_argument("--levels", default="1,16,64", help="concurrent sessions")
    parser.add_argument("--seconds", type=float, default=3.0, help="per target, level, round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per target first")
    parser.add_argument("--pin", action="store_true", help="servers on CPU 0, the client on CPU 1")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more environment for the Django servers",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="SECONDS", help="py-spy after the rounds"
    )
    parser.add_argument("--profile-targets", default=None, help="default: the first target")
    parser.add_argument("--profile-concurrency", type=int, default=16)
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = Run(
        stamp=stamp,
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_prefix=f"bench-alice-{os.urandom(4).hex()}:",
        sqlite=RESULTS / f"alice-http-{stamp}.sqlite3",
    )
    specs = args.targets.split(",")
    if any(":redis" in spec for spec in specs) and not redis_reachable(run.redis_url):
        if args.targets != DEFAULT_TARGETS:
            raise SystemExit(f"no Redis at {run.redis_url} (BENCH_REDIS_URL)")
        print(f"no Redis at {run.redis_url} (BENCH_REDIS_URL): webhook:redis left out")
        specs = [spec for spec in specs if ":redis" not in spec]
    targets = [Target.parse(spec, args.threads) for spec in specs]
    if len({t.spec for t in targets}) != len(targets):
        raise SystemExit("a target is listed twice")
    levels = [int(level) for level in args.levels.split(",")]
    profiled = (args.profile_targets or targets[0].spec).split(",")
    if args.profile and not set(profiled) <= {t.spec for t in targets}:
        raise SystemExit(f"--profile-targets must be among --targets: {profiled}")
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    server_cpu, client_cpu = (0, 1) if args.pin else (None, None)
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    load_at_start = load_average()
    print(
        f"Alice over HTTP: README dialog (4 requests per session), {len(targets)} targets × "
        f"{len(levels)} levels × {args.rounds} rounds × {args.seconds:g} s; "
        f"load average {load_at_start}; {os.cpu_count()} CPUs",
        flush=True,
    )

    servers = [
        Server(
            target,
            target.env(extra_env, run),
            server_cpu,
            RESULTS / "logs" / f"alice-http-{target.slug}-{stamp}.log",
        )
        for target in targets
    ]
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        t.spec: {level: [] for level in levels} for t in targets
    }
    stores, profiles = {}, {}
    try:
        for server in servers:
            if server.target.store == "db" and not run.sqlite.exists():
                subprocess.run(
                    [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
                    cwd=ROOT,
                    env=server.env,
                    check=True,
                )
        for server in servers:
            server.start(timeout=60)
            if server.target.store:
                stores[server.target.spec] = store_class(server)
            warm = run_load(server, max(levels), args.warmup, f"warm-{stamp}", client_cpu)
            if not warm["requests"] or warm.get("errors") or warm.get("bad_dialogs"):
                warm.pop("latencies_us")
                raise SystemExit(f"{server.target.spec} fails: {warm}\n{server.log_tail(20)}")
        for n in range(args.rounds):
            for level in levels:
                turn = n % len(servers)
                for server in servers[turn:] + servers[:turn]:
                    prefix = f"r{n}-c{level}-{stamp}"
                    result = run_load(server, level, args.seconds, prefix, client_cpu)
                    result["load1"] = os.getloadavg()[0]
                    runs[server.target.spec][level].append(result)
            print(f"round {n + 1}/{args.rounds} done; load average {load_average()}", flush=True)
        if args.profile:
            for server in servers:
                if server.target.spec in profiled:
                    profiles[server.target.spec] = profile(
                        server, args.profile, args.profile_concurrency, stamp
                    )
    finally:
        for server in servers:
            server.stop(5, signal.SIGINT)  # gunicorn's quick shutdown
        clean_up(run, targets)

    results = {
        spec: {str(level): summarise(rounds) for level, rounds in by_level.items()}
        for spec, by_level in runs.items()
    }
    report = {
        "workload": "alice-http",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": {"start": load_at_start, "end": load_average()},
        "tree": tree_state(),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "pinned": args.pin,
        "commands": {t.spec: " ".join(t.command(0)[1:]).replace(":0 ", ":PORT ") for t in targets},
        "stores": stores,
        "server_env": extra_env,
        "results": results,
    }
    report.update(compare(targets, levels, runs, results))
    if profiles:
        report["profile"] = profiles
    print_report(report, targets, levels)
    out = RESULTS / f"alice-http-{stamp}.json"
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


def compare(
    targets: list[Target],
    levels: list[int],
    runs: dict[str, dict[int, list[dict[str, Any]]]],
    results: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, Any]:
    """Return the ratios of every target to alice_scripts and to the ceiling, and the targets."""

    def first(kind: str) -> str | None:
        return next((t.spec for t in targets if t.kind == kind), None)

    ours, peer, ceiling = first("webhook"), first("alice_scripts"), first("trivial")
    ratios: dict[str, Any] = {}
    for spec in results:
        for other in (peer, ceiling):
            if other is None or spec in (peer, ceiling):
                continue
            for level in levels:
                mine, theirs = results[spec][str(level)], results[other][str(level)]
                per_round = sorted(
                    round(a["requests"] / a["elapsed"] / (b["requests"] / b["elapsed"]), 2)
                    for a, b in zip(runs[spec][level], runs[other][level], strict=True)
                )
                ratios[f"{spec}/{other} c{level}"] = {
                    "rps": round(mine["rps"] / theirs["rps"], 2),
                    "rps_rounds": per_round,
                    "rps_per_server_cpu": round(
                        mine["rps_per_server_cpu_s"] / theirs["rps_per_server_cpu_s"], 2
                    ),
                    "p99": round(mine["p99_ms"] / theirs["p99_ms"], 2),
                }
    met: dict[str, dict[str, bool]] = {}
    for t in targets:
        if t.kind != "webhook":
            continue
        checks: dict[str, bool] = {}
        if peer:
            versus = [ratios[f"{t.spec}/{peer} c{level}"] for level in levels]
            checks["1.5x_alice_scripts"] = all(r["rps"] >= 1.5 for r in versus)
            checks["lower_p99_than_alice_scripts"] = all(r["p99"] < 1 for r in versus)
        if ceiling:
            versus = [ratios[f"{t.spec}/{ceiling} c{level}"] for level in levels]
            checks["70pct_of_trivial"] = all(r["rps"] >= 0.7 for r in versus)
        if checks:
            met[t.spec] = checks
    return {"roles": {"ours": ours, "peer": peer, "ceiling": ceiling}, "ratios": ratios} | (
        {"targets_met": met} if met else {}
    )


def print_report(report: dict[str, Any], targets: list[Target], levels: list[int]) -> None:
    print()
    print(f"load average at the end {report['load_average']['end']}")
    width = max(14, *(len(t.spec) + 2 for t in targets))
    print(
        f"{'target':<{width}}{'conc':>5}{'req/s':>8}{'min–max':>14}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'srv CPU%':>9}{'req/CPU-s':>10}{'cli CPU%':>9}{'errors':>7}"
    )
    for level in levels:
        for t in targets:
            r = report["results"][t.spec][str(level)]
            spread = f"{min(r['rps_rounds']):.0f}–{max(r['rps_rounds']):.0f}"
            print(
                f"{t.spec:<{width}}{level:>5}{r['rps']:>8.0f}{spread:>14}{r['p50_ms']:>8.2f}"
                f"{r['p99_ms']:>8.2f}{r['server_cpu_pct']:>9.0f}"
                f"{r['rps_per_server_cpu_s'] or 0:>10.0f}{r['client_cpu_pct']:>9.0f}"
                f"{r['errors'] + r['bad_dialogs']:>7}"
            )
    if report["ratios"]:
        print()
        print(f"{'ratio':<{width + 20}}{'req/s':>7}{'  per round':<22}{'per CPU-s':>10}{'p99':>6}")
        for name, r in report["ratios"].items():
            rounds = ",".join(f"{x:.2f}" for x in r["rps_rounds"])
            print(
                f"{name:<{width + 20}}{r['rps']:>7.2f}  {rounds:<20}"
                f"{r['rps_per_server_cpu']:>10.2f}{r['p99']:>6.2f}"
            )
    for spec, met in report.get("targets_met", {}).items():
        print(f"targets met by {spec}: " + ", ".join(f"{k} {v}" for k, v in met.items()))
    for spec, p in report.get("profile", {}).items():
        print()
        print(f"py-spy, {spec} under load ({p['rps']} req/s, {p['samples']} samples): {p['file']}")
        for name, pct in p["by_owner_pct"].items():
            print(f"  {pct:5.1f}%  {name}")
        print("  top functions by own time:")
        for name, pct in p["top_self_pct"].items():
            print(f"  {pct:5.1f}%  {name}")
    print()


if __name__ == "__main__":
    main()
