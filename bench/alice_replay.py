"""
Benchmark durable Alice dialogs in-process, on the README script:

1. the hot path: the four-turn README dialog with the generator kept in memory, on the
   in-memory store (the engine as it was), the Redis store and the database store;
2. the cold resume: the next request of a session of 5, 20 and 50 turns reaching a process
   that does not hold its generator, so that it replays them: the whole request (lock and
   read, history, replay, the new turn, write), and the replay alone;
3. over HTTP (``--http``): the webhook as deployed (granian, one worker, the threads of
   deploy/alice/cluster.py unless ``--threads``, production settings), README dialogs from 8
   keep-alive client threads: server CPU per request (what bounds a busy process's
   throughput) and requests/s, for one process per store (the hot path), and for two
   processes taking the requests of each dialog in turn, as a plain round-robin balancer
   does (every request replays).

Needs Redis (``--redis``, default $REDIS_URL or redis://127.0.0.1:6379/0; keys under a fresh
``bench-<random>:`` prefix, deleted at the end). The database store uses ``--database``
(default: a temporary SQLite file); a PostgreSQL database named there is created and
migrated if missing (e.g. ``--database postgres://postgres@127.0.0.1:5432/bench_alice``).
Prints a table and one JSON line, and saves the JSON in bench/results/. Not a test.

    .venv/bin/python bench/alice_replay.py [--dialogs 3000] [--rounds 5] [--samples 200]
    .venv/bin/python bench/alice_replay.py --http [--http-dialogs 1000]
"""

import argparse
import gc
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.alice_common import FINAL_TEXT, ROOT, dialogs, request_body
from bench.chat.procstat import tree_cpu
from deploy.alice.cluster import DEFAULT_THREADS, server_command
from deploy.processes import Started, free_port

RESULTS = ROOT / "bench" / "results"
TURN_COUNTS = (5, 20, 50)


def setup_django(database: str | None, redis_url: str, prefix: str) -> str:
    """Configure and start Django on *database*; return a description of it."""
    if database is None:
        database = f"sqlite:///{tempfile.mkdtemp(prefix='alice-replay-')}/bench.sqlite3"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="myproject.settings",
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=prefix,
        DEBUG="0",  # DEBUG would keep every query in memory
        SECRET_KEY=os.urandom(16).hex(),
        LOG_LEVEL="WARNING",
    )
    if database.startswith("postgres"):
        create_postgres_database(database)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "alice", verbosity=0)
    from django.db import connection

    return f"{connection.vendor} {connection.settings_dict['NAME']}"


def create_postgres_database(url: str) -> None:
    """Create the database of *url* if it does not exist (as bench/chat does)."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def make_stores(namespace: str) -> dict[str, Callable[..., Any]]:
    """Return a factory per store: each call is a new "process" of that store."""
    from alice.db_store import DatabaseSessionStore
    from alice.engine import MemorySessionStore
    from alice.engine.redis_store import RedisSessionStore
    from myproject.redis import get_redis, redis_key

    return {
        "memory": lambda **kw: MemorySessionStore(namespace=namespace, **kw),
        "redis": lambda **kw: RedisSessionStore(
            client=get_redis(), key_prefix=redis_key(""), namespace=namespace, **kw
        ),
        "database": lambda **kw: DatabaseSessionStore(namespace=namespace, **kw),
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# 1. The hot path.


def hot_path(stores: dict[str, Callable[..., Any]], count: int, rounds: int) -> dict[str, Any]:
    """Run README dialogs on each store, in turns; return req/s and latencies per store."""
    from alice.scripts.acquaintance import skill

    skills = {name: skill.using(make(max_turns=200)) for name, make in stores.items()}

    def send(target: Any, body: bytes) -> bytes:
        return json.dumps(target.handle(json.loads(body)), ensure_ascii=False).encode()

    for name, target in skills.items():  # warm up: morphology, connections, scripts
        for dialog in dialogs(f"warm-{name}-{uuid.uuid4().hex[:6]}", 100):
            for body in dialog:
                send(target, body)
    latencies: dict[str, list[int]] = {name: [] for name in skills}
    wall = dict.fromkeys(skills, 0.0)
    cpu = dict.fromkeys(skills, 0.0)
    order = list(skills)
    per_round = max(1, count // rounds)
    for n in range(rounds):
        for name in order[n % len(order) :] + order[: n % len(order)]:
            target = skills[name]
            work = dialogs(f"hot-{name}-{n}-{uuid.uuid4().hex[:6]}", per_round)
            gc.collect()
            clock = time.perf_counter_ns
            cpu_started, started = time.thread_time(), clock()
            for dialog in work:
                for body in dialog:
                    t0 = clock()
                    answer = send(target, body)
                    latencies[name].append(clock() - t0)
                final = json.loads(answer)["response"]
                if final["text"] != FINAL_TEXT:
                    raise SystemExit(f"{name}: the dialog did not complete: {final}")
            wall[name] += (clock() - started) / 1e9
            cpu[name] += time.thread_time() - cpu_started
    results = {}
    for name in skills:
        done = len(latencies[name])
        results[name] = {
            "requests": done,
            "rps": round(done / wall[name]),
            "rps_cpu": round(done / cpu[name]),
            "p50_us": round(percentile(latencies[name], 0.5) / 1000, 1),
            "p99_us": round(percentile(latencies[name], 0.99) / 1000, 1),
        }
    for name in skills:
        if name != "memory":
            results[name]["vs_memory"] = round(results[name]["rps"] / results["memory"]["rps"], 3)
            results[name]["vs_memory_cpu"] = round(
                results[name]["rps_cpu"] / results["memory"]["rps_cpu"], 3
            )
    return results


# 2. The cold resume.


def utterance(turn: int) -> tuple[str, str]:
    """Return (command, utterance) of request *turn* (0-based) of a long README dialog: the
    greeting, a name, then the age question re-asked for ever."""
    if turn == 0:
        return "", ""
    if turn == 1:
        return "саша", "Саша."
    return "не скажу", "Не скажу."


def cold_resume(make: Callable[..., Any], turns: int, samples: int) -> dict[str, float | int]:
    """Return the time of the request after *turns* turns in a process without the dialog."""
    from alice.engine.replay import replay
    from alice.scripts.acquaintance import skill

    writer = skill.using(make(max_turns=200))
    session_ids = [f"cold-{turns}-{uuid.uuid4().hex}" for _ in range(samples)]
    for session_id in session_ids:
        for turn in range(turns):
            writer.handle(json.loads(request_body(session_id, turn, *utterance(turn))))
    # A "restarted process": a new store, no generator in memory.
    reader = skill.using(make(max_turns=200))
    whole, history, replay_only = [], [], []
    clock = time.perf_counter_ns
    for session_id in session_ids:
        data = json.loads(request_body(session_id, turns, *utterance(turns)))
        gc.disable()
        t0 = clock()
        response = reader.handle(data)
        whole.append(clock() - t0)
        gc.enable()
        if response["response"]["text"] != "Я вас не поняла. Скажите число":
            raise SystemExit(f"cold resume after {turns} turns: {response}")
    # The parts: reading the history, and replaying it (the request's turns + 1 now).
    for session_id in session_ids:
        t0 = clock()
        recorded = reader.store.history(session_id)
        history.append(clock() - t0)
        t0 = clock()
        replay(skill._start, recorded)
        replay_only.append(clock() - t0)

    def ms(values: list[int], p: float) -> float:
        return round(percentile(values, p) / 1e6, 3)

    return {
        "turns": turns,
        "samples": samples,
        "request_p50_ms": ms(whole, 0.5),
        "request_p90_ms": ms(whole, 0.9),
        "history_p50_ms": ms(history, 0.5),
        "replay_p50_ms": ms(replay_only, 0.5),
        "replay_per_turn_us": round(statistics.median(replay_only) / (turns + 1) / 1000, 1),
    }


# 3. Over HTTP.

STORE_PATHS = {
    "memory": "alice.engine.storage.MemorySessionStore",
    "redis": "alice.engine.redis_store.RedisSessionStore",
    "database": "alice.db_store.DatabaseSessionStore",
}


class WebhookServer(Started):
    """One webhook process as deploy/alice/cluster.py runs it, on a free port."""

    def __init__(self, env: dict[str, str], threads: int) -> None:
        port = free_port()
        super().__init__(server_command(port, threads), port=port, log=None, env=env)
        self.start(60)
        deadline = time.monotonic() + 60
        while True:  # listening is not yet answering: the first request imports Django
            try:
                if b"pong" in post(self.port, request_body("ping", 0, "", "ping")):
                    break
            except OSError:
                pass
            if not self.running() or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the webhook server did not start")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """Return the CPU time of the server (master and worker) so far."""
        return tree_cpu(self.pid)


def post(port: int, body: bytes, connection: http.client.HTTPConnection | None = None) -> bytes:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/alice/", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        content = response.read()
    finally:
        if own:
            connection.close()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {content[:300]!r}")
    return content


def http_load(servers: list[WebhookServer], count: int, clients: int = 8) -> dict[str, Any]:
    """Run *count* README dialogs over *servers* (request i of a dialog to server i % n)."""
    work = dialogs(f"http-{uuid.uuid4().hex[:8]}", count)
    lock = threading.Lock()
    failures: list[str] = []
    done = [0]

    def client() -> None:
        connections: dict[int, http.client.HTTPConnection] = {}

        def send(port: int, body: bytes) -> bytes:
            for attempt in range(3):
                if port not in connections:
                    connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    return post(port, body, connections[port])
                except (OSError, http.client.HTTPException):
                    # The server closed an idle keep-alive connection: send it again (a
                    # repeated request is answered from the store, so this is safe).
                    connections.pop(port).close()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        try:
            while True:
                with lock:
                    if not work:
                        break
                    dialog = work.pop()
                for i, body in enumerate(dialog):
                    answer = send(servers[i % len(servers)].port, body)
                    with lock:
                        done[0] += 1
                if json.loads(answer)["response"]["text"] != FINAL_TEXT:
                    failures.append(answer.decode())
        except Exception as exc:
            failures.append(repr(exc))
        finally:
            for connection in connections.values():
                connection.close()

    cpu_before = sum(server.cpu_seconds() for server in servers)
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    elapsed = time.perf_counter() - started
    cpu = sum(server.cpu_seconds() for server in servers) - cpu_before
    if failures:
        raise SystemExit(f"{len(failures)} dialogs failed, e.g. {failures[0]}")
    return {
        "requests": done[0],
        "rps": round(done[0] / elapsed),
        "server_cpu_us_per_request": round(cpu / done[0] * 1e6),
    }


def over_http(
    database_url: str, redis_url: str, prefix: str, count: int, threads: int
) -> dict[str, Any]:
    """Measure the webhook as deployed for each store, one process and round robin."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "myproject.settings",
        "DEBUG": "0",
        "SECRET_KEY": os.urandom(16).hex(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
    }
    setups = [("memory", 1), ("redis", 1), ("database", 1), ("redis", 2), ("database", 2)]
    results = {}
    for store, processes in setups:
        servers = [
            WebhookServer({**env, "ALICE_SESSION_STORE": STORE_PATHS[store]}, threads)
            for _ in range(processes)
        ]
        try:
            http_load(servers, max(50, count // 10))  # warm up
            name = f"{store} x{processes}" + (" round-robin" if processes > 1 else "")
            results[name] = http_load(servers, count)
        finally:
            for server in servers:
                server.stop()
    memory = results["memory x1"]["server_cpu_us_per_request"]
    for result in results.values():
        result["cpu_vs_memory"] = round(memory / result["server_cpu_us_per_request"], 3)
    return results


def cleanup(prefix: str, namespace: str) -> None:
    """Delete this run's Redis keys and database rows."""
    from alice.models import DialogSession
    from myproject.redis import get_redis

    client = get_redis()
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    DialogSession.objects.filter(namespace=namespace).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogs", type=int, default=3000, help="hot path: dialogs per store")
    parser.add_argument("--rounds", type=int, default=5, help="hot path: rounds of turns")
    parser.add_argument("--samples", type=int, default=200, help="cold resumes per length")
    parser.add_argument(
        "--redis", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    )
    parser.add_argument("--database", default=None, help="URL (default: a temp SQLite file)")
    parser.add_argument("--http", action="store_true", help="measure over HTTP instead")
    parser.add_argument("--http-dialogs", type=int, default=1000, help="dialogs per setup")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="threads per server process"
    )
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:10]}:"
    database = setup_django(args.database, args.redis, prefix)
    if args.http:
        try:
            results = over_http(
                os.environ["DATABASE_URL"], args.redis, prefix, args.http_dialogs, args.threads
            )
        finally:
            cleanup(prefix, "alice.scripts.acquaintance")
        print(f"Python {sys.version.split()[0]}; database: {database}; load {load()}")
        print(
            f"\nOver HTTP: granian (as deployed), 1 worker x {args.threads} threads; "
            "README dialogs, 8 client threads"
        )
        print(
            f"{'setup':<24}{'requests':>9}{'req/s':>8}{'server CPU µs/req':>19}{'vs memory':>11}"
        )
        for name, r in results.items():
            print(
                f"{name:<24}{r['requests']:>9}{r['rps']:>8}{r['server_cpu_us_per_request']:>19}"
                f"{r['cpu_vs_memory']:>11.2f}"
            )
        save(
            {
                "python": sys.version.split()[0],
                "database": database,
                "threads": args.threads,
                "http": results,
            }
        )
        return
    from alice.engine.morphology import warm_up

    warm_up()
    namespace = f"bench.alice_replay.{uuid.uuid4().hex[:8]}"
    stores = make_stores(namespace)
    try:
        hot = hot_path(stores, args.dialogs, args.rounds)
        cold = {
            name: [cold_resume(stores[name], turns, args.samples) for turns in TURN_COUNTS]
            for name in ("redis", "database")
        }
    finally:
        cleanup(prefix, namespace)

    print(f"Python {sys.version.split()[0]}; database: {database}; load {load()}")
    print("\nHot path: README dialog (4 requests), generator in memory, in-process")
    print(
        f"{'store':<10}{'req/s':>9}{'req/CPU-s':>11}{'p50 µs':>9}{'p99 µs':>10}"
        f"{'vs memory (per CPU)':>22}"
    )
    for name, r in hot.items():
        ratio = f"{r['vs_memory']:.2f} ({r['vs_memory_cpu']:.2f})" if "vs_memory" in r else ""
        print(
            f"{name:<10}{r['rps']:>9}{r['rps_cpu']:>11}{r['p50_us']:>9}{r['p99_us']:>10}"
            f"{ratio:>22}"
        )
    print("\nCold resume: the next request of an N-turn session, in a process without it")
    print(
        f"{'store':<10}{'turns':>6}{'request p50':>13}{'p90':>8}{'history':>9}"
        f"{'replay':>8}{'µs/turn':>9}"
    )
    for name, rows in cold.items():
        for r in rows:
            print(
                f"{name:<10}{r['turns']:>6}{r['request_p50_ms']:>10} ms{r['request_p90_ms']:>8}"
                f"{r['history_p50_ms']:>9}{r['replay_p50_ms']:>8}{r['replay_per_turn_us']:>9}"
            )
    result = {
        "python": sys.version.split()[0],
        "database": database,
        "load": load(),
        "hot_path": hot,
        "cold_resume": cold,
        "targets_met": {
            "redis_hot_within_10pct": hot["redis"]["vs_memory"] >= 0.9,
            "cold_20_turns_under_5ms": all(
                row["request_p50_ms"] < 5
                for rows in cold.values()
                for row in rows
                if row["turns"] == 20
            ),
        },
    }
    save(result)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def save(result: dict[str, Any]) -> None:
    """Print *result* as one JSON line and keep it in bench/results/."""
    line = json.dumps(result, ensure_ascii=False)
    print(line)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"alice-replay-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(line + "\n")


if __name__ == "__main__":
    main()
