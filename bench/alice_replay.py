"""
Benchmark durable Alice dialogs on the README script:

1. the hot path, in-process: README dialogs with the generator kept in memory, on the
   in-memory store (the engine as it was), the Redis store and the database store;
2. the cold resume, in-process: the next request of a session of 5, 20 and 50 turns reaching
   a process that does not hold its generator, so that it replays them: the whole request
   (lock and read, history, replay, the new turn, write), and the replay alone;
3. over HTTP (``--http``): the webhook as deployed (bench/alice_http.py's granian command and
   load client, 8 sessions at once): server CPU per request and requests/s, for one process
   per store (the hot path), and for two processes taking the requests of each dialog in
   turn, as a plain round-robin balancer does (every request replays).

Needs Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; keys under a fresh prefix,
deleted at the end). The database store uses ``--database`` (default: a temporary SQLite
file); a PostgreSQL database named there is created and migrated if missing.

    .venv/bin/python bench/alice_replay.py [--dialogs 3000] [--rounds 5] [--samples 200]
    .venv/bin/python bench/alice_replay.py --http [--seconds 5]
"""

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.alice_common import FINAL_TEXT, dialogs, request_body
from bench.alice_http import STORES, Server, production_env, run_load
from bench.common import REDIS_URL, create_database, load_average, percentile, save, table

TURN_COUNTS = (5, 20, 50)


def setup_django(database: str | None, prefix: str) -> str:
    """Configure and start Django on *database*; return a description of it."""
    database = database or f"sqlite:///{tempfile.mkdtemp(prefix='alice-replay-')}/db.sqlite3"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="myproject.settings",
        DATABASE_URL=database,
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=prefix,
        DEBUG="0",  # DEBUG would keep every query in memory
        SECRET_KEY=os.urandom(16).hex(),
        LOG_LEVEL="WARNING",
    )
    if database.startswith("postgres"):
        create_database(dict(os.environ))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", "alice", verbosity=0)
    return f"{connection.vendor} {connection.settings_dict['NAME']}"


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


def hot_path(stores: dict[str, Callable[..., Any]], count: int, rounds: int) -> list[dict]:
    """Run README dialogs on each store, the stores taking turns; return a row per store."""
    from alice.scripts.acquaintance import skill

    skills = {name: skill.using(make(max_turns=200)) for name, make in stores.items()}

    def send(target: Any, body: bytes) -> bytes:
        return json.dumps(target.handle(json.loads(body)), ensure_ascii=False).encode()

    for name, target in skills.items():  # warm up: morphology, connections, scripts
        for dialog in dialogs(f"warm-{name}-{uuid.uuid4().hex[:6]}", 100):
            for body in dialog:
                send(target, body)
    latencies = {name: [] for name in skills}
    wall, cpu = dict.fromkeys(skills, 0.0), dict.fromkeys(skills, 0.0)
    order = list(skills)
    for n in range(rounds):
        for name in order[n % len(order) :] + order[: n % len(order)]:
            work = dialogs(f"hot-{name}-{n}-{uuid.uuid4().hex[:6]}", max(1, count // rounds))
            gc.collect()
            clock = time.perf_counter_ns
            cpu_started, started = time.thread_time(), clock()
            for dialog in work:
                for body in dialog:
                    t0 = clock()
                    answer = send(skills[name], body)
                    latencies[name].append((clock() - t0) / 1000)
                if json.loads(answer)["response"]["text"] != FINAL_TEXT:
                    raise SystemExit(f"{name}: the dialog did not complete: {answer}")
            wall[name] += (clock() - started) / 1e9
            cpu[name] += time.thread_time() - cpu_started
    rows = []
    for name, values in latencies.items():
        rps, rps_cpu = round(len(values) / wall[name]), round(len(values) / cpu[name])
        rows.append({"store": name, "requests": len(values), "rps": rps, "rps_cpu": rps_cpu})
        rows[-1] |= {"p50_us": percentile(values, 0.5), "p99_us": percentile(values, 0.99)}
    for row in rows:
        row["vs_memory"] = round(row["rps"] / rows[0]["rps"], 3)
        row["vs_memory_cpu"] = round(row["rps_cpu"] / rows[0]["rps_cpu"], 3)
    return rows


def utterance(turn: int) -> tuple[str, str]:
    """(command, utterance) of request *turn* of a long README dialog: the greeting, a name,
    then the age question re-asked for ever."""
    return [("", ""), ("саша", "Саша.")][turn] if turn < 2 else ("не скажу", "Не скажу.")


def cold_resume(name: str, make: Callable[..., Any], turns: int, samples: int) -> dict:
    """Return the time of the request after *turns* turns in a process without the dialog."""
    from alice.engine.replay import replay
    from alice.scripts.acquaintance import skill

    writer = skill.using(make(max_turns=200))
    session_ids = [f"cold-{turns}-{uuid.uuid4().hex}" for _ in range(samples)]
    for session_id in session_ids:
        for turn in range(turns):
            writer.handle(json.loads(request_body(session_id, turn, *utterance(turn))))
    reader = skill.using(make(max_turns=200))  # a "restarted process": no generator in memory
    whole, history, replay_only = [], [], []
    clock = time.perf_counter_ns
    for session_id in session_ids:
        data = json.loads(request_body(session_id, turns, *utterance(turns)))
        gc.disable()
        t0 = clock()
        response = reader.handle(data)
        whole.append((clock() - t0) / 1e6)
        gc.enable()
        if response["response"]["text"] != "Я вас не поняла. Скажите число":
            raise SystemExit(f"cold resume after {turns} turns: {response}")
    for session_id in session_ids:  # the parts: reading the history, replaying it
        t0 = clock()
        recorded = reader.store.history(session_id)
        t1 = clock()
        replay(skill._start, recorded, json.loads(request_body(session_id, turns, "", "")))
        history.append((t1 - t0) / 1e6)
        replay_only.append((clock() - t1) / 1e6)
    return {
        "store": name,
        "turns": turns,
        "samples": samples,
        "request_p50_ms": percentile(whole, 0.5),
        "request_p90_ms": percentile(whole, 0.9),
        "history_p50_ms": percentile(history, 0.5),
        "replay_p50_ms": percentile(replay_only, 0.5),
        # The request's turns + 1 are replayed.
        "replay_per_turn_us": round(1000 * statistics.median(replay_only) / (turns + 1), 1),
    }


def over_http(prefix: str, seconds: float) -> list[dict]:
    """The webhook as deployed for each store, one process and two in a round robin."""
    env = {**os.environ, "DATABASE_CONN_MAX_AGE": "60"}
    rows = []
    for store, processes in [("memory", 1), ("redis", 1), ("db", 1), ("redis", 2), ("db", 2)]:
        store_env = production_env(**env, ALICE_SESSION_STORE=STORES[store])
        servers = [Server("webhook", lambda _, e=store_env: e) for _ in range(processes)]
        try:
            for server in servers:
                server.start(60)
            run_load(servers, 8, 1, f"warm-{prefix}")
            load = run_load(servers, 8, seconds, f"http-{prefix}")
        finally:
            for server in servers:
                server.stop()
        if load.get("errors") or load.get("bad_dialogs") or not load["requests"]:
            load.pop("latencies_us")
            raise SystemExit(f"{store} x{processes}: {load}\n{servers[0].log_tail(20)}")
        rows.append(
            {
                "setup": f"{store} x{processes}" + (" round-robin" if processes > 1 else ""),
                "requests": load["requests"],
                "rps": round(load["requests"] / load["elapsed"]),
                "server_cpu_us_per_request": round(load["server_cpu"] / load["requests"] * 1e6),
            }
        )
    for row in rows:
        row["cpu_vs_memory"] = round(
            rows[0]["server_cpu_us_per_request"] / row["server_cpu_us_per_request"], 3
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogs", type=int, default=3000, help="hot path: dialogs per store")
    parser.add_argument("--rounds", type=int, default=5, help="hot path: rounds of turns")
    parser.add_argument("--samples", type=int, default=200, help="cold resumes per length")
    parser.add_argument("--database", default=None, help="URL (default: a temp SQLite file)")
    parser.add_argument("--http", action="store_true", help="measure over HTTP instead")
    parser.add_argument("--seconds", type=float, default=5, help="over HTTP: per setup")
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:10]}:"
    namespace = "alice.scripts.acquaintance" if args.http else f"bench.{uuid.uuid4().hex[:8]}"
    database = setup_django(args.database, prefix)
    result = {"python": sys.version.split()[0], "database": database}
    try:
        if args.http:
            result["http"] = over_http(prefix, args.seconds)
        else:
            from alice.engine.morphology import warm_up

            warm_up()
            stores = make_stores(namespace)
            result["hot_path"] = hot_path(stores, args.dialogs, args.rounds)
            result["cold_resume"] = [
                cold_resume(name, stores[name], turns, args.samples)
                for name in ("redis", "database")
                for turns in TURN_COUNTS
            ]
    finally:
        from alice.models import DialogSession
        from bench.common import delete_redis_keys

        delete_redis_keys(REDIS_URL, prefix)
        DialogSession.objects.filter(namespace=namespace).delete()

    print(f"Python {result['python']}; database: {database}; load {load_average()}")
    if args.http:
        print("\nOver HTTP: granian (as deployed); README dialogs, 8 sessions at once")
        columns = [("setup", "setup"), ("requests", "requests"), ("rps", "req/s")]
        columns += [("server_cpu_us_per_request", "server CPU µs/req")]
        print(table(result["http"], [*columns, ("cpu_vs_memory", "vs memory")]))
        return save("alice-replay", result)
    hot, cold = result["hot_path"], result["cold_resume"]
    print("\nHot path: README dialog (4 requests), generator in memory, in-process")
    columns = [("store", "store"), ("rps", "req/s"), ("rps_cpu", "req/CPU-s")]
    columns += [("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("vs_memory", "vs memory")]
    print(table(hot, [*columns, ("vs_memory_cpu", "(per CPU)")]))
    print("\nCold resume: the next request of an N-turn session, in a process without it")
    columns = [("store", "store"), ("turns", "turns"), ("request_p50_ms", "request p50 ms")]
    columns += [("request_p90_ms", "p90"), ("history_p50_ms", "history")]
    print(table(cold, [*columns, ("replay_p50_ms", "replay"), ("replay_per_turn_us", "µs/turn")]))
    result["targets_met"] = {
        "redis_hot_within_10pct": hot[1]["vs_memory"] >= 0.9,
        "cold_20_turns_under_5ms": all(r["request_p50_ms"] < 5 for r in cold if r["turns"] == 20),
    }
    save("alice-replay", result)


if __name__ == "__main__":
    main()
