"""
Attack on the Alice deploy recipe: a burst of concurrent webhook requests through its nginx,
and the same burst straight to one of its granian processes, counting every request that
does not come back as a 200 (resets, connections closed without an answer, timeouts, error
statuses).

It starts deploy/alice/cluster.py of a source tree (this one, or --tree, e.g. a
``git worktree`` of an older commit) with two processes on free loopback ports, its own run
directory and a SQLite file in a temporary directory, waits until both answer, runs the
bursts and stops everything. Each request of a burst is a new connection; all of them
connect first and send their POST (an Alice ping, which no session store is asked about)
together. Loopback only and bounded: at most MAX_REQUESTS per burst and MAX_ROUNDS rounds,
each request at most REQUEST_TIMEOUT seconds. Prints the figures; asserts nothing, and is
not a test.

    .venv/bin/python bench/attacks/alice_nginx.py [--requests 1000] [--rounds 3]
    git worktree add /tmp/deploy-before HEAD~1
    .venv/bin/python bench/attacks/alice_nginx.py --tree /tmp/deploy-before
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deploy.processes import free_port, free_ports, signal_group, spawn, stop_group  # noqa: E402

HOST = "127.0.0.1"
MAX_REQUESTS = 5000
MAX_ROUNDS = 10
REQUEST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
START_TIMEOUT = 60.0
PING = json.dumps(
    {
        "request": {"command": "", "original_utterance": "ping"},
        "session": {"session_id": "attack", "message_id": 0, "new": True},
        "version": "1.0",
    }
).encode()


@dataclass
class Burst:
    """What became of one burst's requests."""

    target: str
    requests: int
    outcomes: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return self.requests - self.outcomes["200"]

    def row(self) -> str:
        failures = ", ".join(
            f"{kind} {n}" for kind, n in sorted(self.outcomes.items()) if kind != "200"
        )
        quantiles = (
            statistics.quantiles(self.latencies, n=100) if len(self.latencies) > 1 else [0.0] * 99
        )
        return (
            f"{self.target:<8} {self.requests:>6} {self.outcomes['200']:>6} {self.failed:>6}  "
            f"{quantiles[49] * 1000:>7.0f} {quantiles[98] * 1000:>7.0f} {self.seconds:>6.2f}  "
            f"{failures or '-'}"
        )


def free_port_pair() -> int:
    """Return a port p such that p and p + 1 are free now (the cluster numbers its processes)."""
    return free_ports(2)[0]


def request_bytes(port: int) -> bytes:
    head = (
        f"POST /alice/ HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(PING)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + PING


def outcome_of(error: BaseException) -> str:
    if isinstance(error, ConnectionResetError):
        return "reset"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    return type(error).__name__


async def one_request(port: int, gate: asyncio.Event, connected: list[int], burst: Burst) -> None:
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port), CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError) as error:
        burst.outcomes[f"connect {outcome_of(error)}"] += 1
        connected[0] += 1
        return
    connected[0] += 1
    await gate.wait()
    started = time.perf_counter()
    try:
        writer.write(request_bytes(port))
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT)
        if not answer:
            kind = "closed without an answer"
        else:
            match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
            kind = match.group(1).decode() if match else "garbled answer"
        if kind == "200":
            burst.latencies.append(time.perf_counter() - started)
        burst.outcomes[kind] += 1
    except (OSError, TimeoutError) as error:
        burst.outcomes[outcome_of(error)] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def burst(target: str, port: int, requests: int) -> Burst:
    """Connect *requests* clients to *port*, then send all their requests at once."""
    result = Burst(target, requests)
    gate = asyncio.Event()
    connected = [0]
    tasks = [
        asyncio.create_task(one_request(port, gate, connected, result)) for _ in range(requests)
    ]
    deadline = time.monotonic() + CONNECT_TIMEOUT + 5
    while connected[0] < requests and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - started
    return result


def ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(request_bytes(port))
            sock.settimeout(5)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer.startswith(b"HTTP/1.1 200") and b"pong" in answer
    except OSError:
        return False


class RecipeCluster:
    """deploy/alice/cluster.py of *tree*: two processes behind nginx, in a temporary run dir."""

    def __init__(self, tree: Path, workdir: Path) -> None:
        self.tree = tree
        self.workdir = workdir
        self.log_path = workdir / "cluster.log"
        self.base = free_port_pair()
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if key
            not in {"REDIS_URL", "DATABASE_URL", "ALICE_SESSION_STORE", "DJANGO_SETTINGS_MODULE"}
        }
        # The recipe as `make alice-cluster` runs it, sharing dialogs through a SQLite file
        # of this run's own (a ping reaches no store, so it needs no tables).
        env.update(DATABASE_URL=f"sqlite:///{self.workdir / 'db.sqlite3'}", LOG_LEVEL="WARNING")
        command = [
            sys.executable,
            str(self.tree / "deploy" / "alice" / "cluster.py"),
            *("--processes", "2", "--base-port", str(self.base), "--port", str(self.port)),
            *("--run-dir", str(self.workdir / "run")),
        ]
        self.log_path.unlink(missing_ok=True)
        self.process = spawn(command, env=env, log=self.log_path, cwd=self.tree)
        deadline = time.monotonic() + START_TIMEOUT
        while not all(ping(port) for port in (self.base, self.base + 1, self.port)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the cluster did not start:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        stop_group(self.process, 20)  # the runner stops what it started
        for pid in re.findall(r"pid (\d+)", self.log()):
            with contextlib.suppress(PermissionError):
                signal_group(int(pid), signal.SIGKILL)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def nginx_complaints(log: str) -> Counter:
    """Return nginx's error log lines of the run, counted by their gist."""
    counts: Counter = Counter()
    for line in log.splitlines():
        match = re.search(r"\[(?:error|alert|crit|warn)\] \d+#\d+: (?:\*\d+ )?([^,(]+)", line)
        if match:
            counts[match.group(1).strip()] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=1000, help=f"per burst, at most {MAX_REQUESTS}"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help=f"bursts per target, at most {MAX_ROUNDS}"
    )
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree whose recipe runs")
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--requests 1..{MAX_REQUESTS}, --rounds 1..{MAX_ROUNDS}")
    tree = args.tree.resolve()
    if not (tree / "deploy" / "alice" / "cluster.py").is_file():
        parser.error(f"{tree} has no deploy/alice/cluster.py")
    # One descriptor per client connection, and the servers inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * args.requests + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    commit = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain", "--", "deploy"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if commit and changed:
        commit += " + uncommitted changes in deploy/"
    print(f"tree {tree} ({commit or 'not a git checkout'})")
    results: list[Burst] = []
    with tempfile.TemporaryDirectory(prefix="alice-nginx-") as workdir:
        cluster = RecipeCluster(tree, Path(workdir))
        cluster.start()
        try:
            targets = [("nginx", cluster.port), ("granian", cluster.base)]
            print(
                f"{args.requests} concurrent POSTs per burst; nginx on {cluster.port}, "
                f"granian on {cluster.base}"
            )
            print(
                f"{'target':<8} {'sent':>6} {'200':>6} {'failed':>6}  {'p50 ms':>7} "
                f"{'p99 ms':>7} {'wall s':>6}  failures"
            )
            for round_number in range(args.rounds):
                # Take turns, so that other work on the machine slows both alike.
                for target, port in targets if round_number % 2 == 0 else targets[::-1]:
                    result = asyncio.run(burst(target, port, args.requests))
                    results.append(result)
                    print(result.row(), flush=True)
                    time.sleep(1)
            complaints = nginx_complaints(cluster.log())
        finally:
            cluster.stop()
    for target, _ in targets:
        mine = [r for r in results if r.target == target]
        total = sum(r.requests for r in mine)
        print(f"{target}: {sum(r.failed for r in mine)} of {total} requests failed")
    for gist, count in complaints.most_common(5):
        print(f"nginx: {count} x {gist}")
    summary = {
        "tree": str(tree),
        "commit": commit,
        "requests": args.requests,
        "bursts": [
            {
                "target": r.target,
                "failed": r.failed,
                "outcomes": dict(r.outcomes),
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
        "nginx_errors": dict(complaints),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
