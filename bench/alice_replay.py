"""
Benchmark durable Alice dialogs on the README script: the cold resume, in-process. The next
request of a session of 5, 20 and 50 turns reaches a process that does not hold its
generator, so that it replays them: the whole request (lock and read, history, replay, the
new turn, write), and the replay alone, on the Redis store and the database store. The hot
path (the generator in memory) and the round robin over HTTP, every request replayed, are
bench/alice_http.py's (``--http`` runs it so: each store, one process and two, 8 sessions).

Needs Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; keys under a fresh prefix,
deleted at the end). The database store uses ``--database`` (default: a temporary SQLite
file); a PostgreSQL database named there is created and migrated if missing.

    .venv/bin/python bench/alice_replay.py [--samples 200] [--database URL]
    .venv/bin/python bench/alice_replay.py --http [--seconds 5]
"""

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.alice_common import request_body


def make_stores(namespace: str) -> dict:
    """Return a factory per durable store: each call is a new "process" of that store."""
    from alice.db_store import DatabaseSessionStore
    from alice.engine.redis_store import RedisSessionStore
    from myproject.redis import get_redis, redis_key

    def redis(**kw):
        return RedisSessionStore(client=get_redis(), key_prefix=redis_key(""), **kw)

    classes = {"redis": redis, "database": DatabaseSessionStore}
    return {name: lambda c=c, **kw: c(namespace=namespace, **kw) for name, c in classes.items()}


def utterance(turn: int) -> tuple[str, str]:
    """(command, utterance) of request *turn* of a long README dialog: the greeting, a name,
    then the age question re-asked for ever."""
    return [("", ""), ("саша", "Саша.")][turn] if turn < 2 else ("не скажу", "Не скажу.")


def cold_resume(name: str, make, turns: int, samples: int) -> dict:
    """Return the time of the request after *turns* turns in a process without the dialog."""
    from alice.engine.replay import replay
    from alice.scripts.acquaintance import skill

    writer = skill.using(make(max_turns=200))
    session_ids = [f"cold-{turns}-{uuid.uuid4().hex}" for _ in range(samples)]
    for session_id in session_ids:
        for turn in range(turns):
            writer.handle(json.loads(request_body(session_id, turn, *utterance(turn))))
    reader = skill.using(make(max_turns=200))  # a "restarted process": no generator in memory
    whole, history, replay_only, clock = [], [], [], time.perf_counter_ns
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
        "request_p50_ms": common.percentile(whole, 0.5),
        "request_p90_ms": common.percentile(whole, 0.9),
        "history_p50_ms": common.percentile(history, 0.5),
        "replay_p50_ms": common.percentile(replay_only, 0.5),
        # The request's turns + 1 are replayed.
        "replay_per_turn_us": round(1000 * statistics.median(replay_only) / (turns + 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="cold resumes per length")
    parser.add_argument("--database", default=None, help="URL (default: a temp SQLite file)")
    parser.add_argument("--http", action="store_true", help="bench/alice_http.py's round robin")
    parser.add_argument("--seconds", type=float, default=5, help="over HTTP: per setup")
    args = parser.parse_args()
    if args.http:
        http = [sys.executable, str(Path(__file__).with_name("alice_http.py")), "--levels", "8"]
        http += ["--rounds", "1", "--seconds", str(args.seconds), "--targets"]
        durable = "webhook:redis,webhook:db"  # sessions in memory live in one process
        for targets, n in ((f"webhook:memory,{durable}", "1"), (durable, "2")):
            subprocess.run([*http, targets, "--processes", n])
        return

    prefix, namespace = f"bench-{uuid.uuid4().hex[:10]}:", f"bench.{uuid.uuid4().hex[:8]}"
    database = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='alice-replay-')}/db.sqlite3"
    os.environ.update(DJANGO_SETTINGS_MODULE="myproject.settings", DATABASE_URL=database)
    os.environ.update(REDIS_URL=common.REDIS_URL, REDIS_KEY_PREFIX=prefix, LOG_LEVEL="WARNING")
    os.environ.update(DEBUG="0", SECRET_KEY=os.urandom(16).hex())  # DEBUG keeps every query
    if database.startswith("postgres"):
        common.create_database(dict(os.environ))
    import django

    django.setup()
    from django.core.management import call_command

    from alice.engine.morphology import warm_up
    from alice.models import DialogSession

    call_command("migrate", "alice", verbosity=0)
    warm_up()
    stores = make_stores(namespace)
    try:
        cold = [
            cold_resume(name, stores[name], turns, args.samples)
            for name in ("redis", "database")
            for turns in (5, 20, 50)
        ]
    finally:
        common.delete_redis_keys(common.REDIS_URL, prefix)
        DialogSession.objects.filter(namespace=namespace).delete()
    print(f"database: {database.split('@')[-1]}; load {common.load_average()}")
    print("\nCold resume: the next request of an N-turn session, in a process without it")
    columns = [("store", "store"), ("turns", "turns"), ("request_p50_ms", "request p50 ms")]
    columns += [("request_p90_ms", "p90"), ("history_p50_ms", "history")]
    columns += [("replay_p50_ms", "replay"), ("replay_per_turn_us", "µs/turn")]
    print(common.table(cold, columns))
    common.save("alice-replay", {"database": database.split("@")[-1], "cold_resume": cold})


if __name__ == "__main__":
    main()
