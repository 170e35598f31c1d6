"""
Attack on the Alice deploy recipe: a burst of concurrent webhook requests through its nginx,
and the same burst straight to one of its granian processes, counting every request that
does not come back as a 200 (resets, connections closed without an answer, timeouts, error
statuses).

It starts deploy/alice/cluster.py of a source tree (this one, or --tree, e.g. a ``git
worktree`` of an older commit) with two processes on free loopback ports, its own run
directory and a SQLite file in a temporary directory, runs the bursts and stops everything.
Each request of a burst is a new connection; all of them connect first, then send their POST
(an Alice ping, which no session store is asked about) together. Loopback only and bounded:
at most MAX_REQUESTS per burst, MAX_ROUNDS rounds, REQUEST_TIMEOUT seconds a request.
Prints the figures; asserts nothing.

    .venv/bin/python bench/attacks/alice_nginx.py [--requests 1000] [--rounds 3] [--tree PATH]
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import HOST, percentile, table, tree_state  # noqa: E402
from deploy.processes import free_port, free_ports, signal_group, spawn, stop_group  # noqa: E402

MAX_REQUESTS, MAX_ROUNDS = 5000, 10
REQUEST_TIMEOUT, CONNECT_TIMEOUT = 30.0, 10.0
PING = json.dumps(
    {
        "request": {"command": "", "original_utterance": "ping"},
        "session": {"session_id": "attack", "message_id": 0, "new": True},
        "version": "1.0",
    }
).encode()
HEAD = "POST /alice/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
REQUEST = (HEAD + f"Content-Length: {len(PING)}\r\nConnection: close\r\n\r\n").encode() + PING


def outcome_of(error: BaseException) -> str:
    names = {ConnectionResetError: "reset", ConnectionRefusedError: "refused"}
    if type(error) in names or isinstance(error, TimeoutError):
        return names.get(type(error), "timeout")
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    return type(error).__name__


async def burst(target: str, port: int, requests: int) -> dict:
    """Connect *requests* clients to *port*, then send all their requests at once."""
    outcomes, latencies, gate, connected = Counter(), [], asyncio.Event(), [0]
    request = REQUEST.replace(b"{host}", f"{HOST}:{port}".encode())

    async def one() -> None:
        try:
            connecting = asyncio.open_connection(HOST, port)
            reader, writer = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as error:
            outcomes[f"connect {outcome_of(error)}"] += 1
            return
        finally:
            connected[0] += 1
        await gate.wait()
        started = time.perf_counter()
        try:
            writer.write(request)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT)
            match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
            kind = match[1].decode() if match else "garbled answer" if answer else "closed"
            if kind == "200":
                latencies.append(1000 * (time.perf_counter() - started))
            outcomes[kind if kind != "closed" else "closed without an answer"] += 1
        except (OSError, TimeoutError) as error:
            outcomes[outcome_of(error)] += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    tasks = [asyncio.create_task(one()) for _ in range(requests)]
    deadline = time.monotonic() + CONNECT_TIMEOUT + 5
    while connected[0] < requests and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    failures = ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items()) if k != "200")
    return {
        "target": target,
        "sent": requests,
        "200": outcomes["200"],
        "failed": requests - outcomes["200"],
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "seconds": round(time.perf_counter() - started, 3),
        "failures": failures or "-",
        "outcomes": dict(outcomes),
    }


def ping(port: int) -> bool:
    async def ask() -> bytes:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(REQUEST.replace(b"{host}", f"{HOST}:{port}".encode()))
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return answer

    try:
        answer = asyncio.run(asyncio.wait_for(ask(), 5))
    except (OSError, TimeoutError):
        return False
    return answer.startswith(b"HTTP/1.1 200") and b"pong" in answer


@contextlib.contextmanager
def recipe_cluster(tree: Path, workdir: Path):
    """deploy/alice/cluster.py of *tree*: two processes behind nginx, in a temporary run dir;
    yields (nginx's port, the first process's port, the cluster's log)."""
    without = {"REDIS_URL", "DATABASE_URL", "ALICE_SESSION_STORE", "DJANGO_SETTINGS_MODULE"}
    env = {key: value for key, value in os.environ.items() if key not in without}
    # The recipe as `make alice-cluster` runs it, sharing dialogs through a SQLite file of
    # this run's own (a ping reaches no store, so it needs no tables).
    env.update(DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}", LOG_LEVEL="WARNING")
    base, port, log = free_ports(2)[0], free_port(), workdir / "cluster.log"
    command = [sys.executable, str(tree / "deploy" / "alice" / "cluster.py")]
    command += ["--processes", "2", "--base-port", str(base), "--port", str(port)]
    process = spawn([*command, "--run-dir", str(workdir / "run")], env=env, log=log, cwd=tree)
    try:
        deadline = time.monotonic() + 60
        while not all(ping(p) for p in (base, base + 1, port)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield port, base, log
    finally:
        stop_group(process, 20)  # the runner stops what it started
        for pid in re.findall(r"pid (\d+)", log.read_text(errors="replace")):
            with contextlib.suppress(PermissionError):
                signal_group(int(pid), signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help=f"≤ {MAX_REQUESTS}")
    parser.add_argument("--rounds", type=int, default=3, help=f"bursts per target, ≤ {MAX_ROUNDS}")
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree whose recipe runs")
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--requests 1..{MAX_REQUESTS}, --rounds 1..{MAX_ROUNDS}")
    tree = args.tree.resolve()
    if not (tree / "deploy" / "alice" / "cluster.py").is_file():
        parser.error(f"{tree} has no deploy/alice/cluster.py")
    # One descriptor per client connection, and the servers inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4 * args.requests + 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4 * args.requests + 1024, hard), hard))
    state = tree_state(tree, "deploy")
    print(f"tree {tree} ({state['commit']}{' + changes in deploy/' * bool(state['changed'])})")
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="alice-nginx-"))
    with recipe_cluster(tree, workdir) as (nginx, granian, log):
        print(f"{args.requests} concurrent POSTs per burst; nginx {nginx}, granian {granian}")
        for n in range(args.rounds):
            # Take turns, so that other work on the machine slows both alike.
            for target, port in [("nginx", nginx), ("granian", granian)][:: 1 - 2 * (n % 2)]:
                results.append(asyncio.run(burst(target, port, args.requests)))
                print(f"{target}: {results[-1]['failed']} failed", flush=True)
                time.sleep(1)
        nginx_log = log.read_text(errors="replace")
    columns = ["target", "sent", "200", "failed", "p50_ms", "p99_ms", "seconds", "failures"]
    print(table(results, [(c, c.replace("_", " ")) for c in columns]))
    for target in ("nginx", "granian"):
        mine = [r for r in results if r["target"] == target]
        print(
            f"{target}: {sum(r['failed'] for r in mine)} of {sum(r['sent'] for r in mine)} failed"
        )
    # nginx's error log lines of the run, counted by their gist.
    gist = r"\[(?:error|alert|crit|warn)\] \d+#\d+: (?:\*\d+ )?([^,(]+)"
    complaints = Counter(match.strip() for match in re.findall(gist, nginx_log))
    for line, count in complaints.most_common(5):
        print(f"nginx: {count} x {line}")
    summary = {"tree": str(tree), **state, "requests": args.requests, "bursts": results}
    print(json.dumps(summary | {"nginx_errors": dict(complaints)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
