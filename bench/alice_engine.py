"""
Benchmark the Alice engine on the full four-turn README dialog, three ways, in one run:

1. this engine in-process (JSON body in, JSON body out, no HTTP);
2. the Django webhook at /alice/ through Django's test client, with the production settings
   (DEBUG off, HTTPS) unless DEBUG is set in the environment;
3. the original alice_scripts 0.2.post1 through Flask's test client.

The ways take turns in rounds, so that a noisy neighbour slows all three alike. Prints a
table, then one JSON line. Not a test: run it by hand.

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/alice_engine.py [--dialogs 3000] [--rounds 6]
"""

import argparse
import gc
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.alice_common import FINAL_TEXT, alice_scripts_skill, dialogs

Send = Callable[[bytes], bytes]


def run_round(
    way: str, send: Send, work: list[list[bytes]], latencies: list[int]
) -> tuple[float, float]:
    """Run the dialogs of *work* through *send*; return the wall and CPU seconds taken."""
    finals: list[bytes] = []
    gc.collect()
    clock = time.perf_counter_ns
    cpu_started = time.thread_time()
    started = clock()
    for dialog in work:
        for body in dialog:
            t0 = clock()
            answer = send(body)
            latencies.append(clock() - t0)
        finals.append(answer)
    elapsed = (clock() - started) / 1e9
    cpu = time.thread_time() - cpu_started
    for answer in finals:
        response = json.loads(answer)["response"]
        if not response["end_session"] or response["text"] != FINAL_TEXT:
            raise SystemExit(f"{way}: the dialog did not complete: {response}")
    return elapsed, cpu


def summary(latencies: list[int], elapsed: float, cpu: float) -> dict[str, float]:
    """Return requests/s (wall clock and per CPU second) and the latency percentiles."""
    latencies = sorted(latencies)

    def percentile(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] / 1000, 1)

    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        # Requests per second of CPU time of the benchmark thread: steadier than the wall
        # clock on a machine shared with other work.
        "rps_cpu": round(len(latencies) / cpu, 1),
        "p50_us": percentile(0.50),
        "p99_us": percentile(0.99),
    }


def engine_in_process() -> Send:
    """Return a sender that calls the engine directly, with JSON decoding and encoding."""
    from alice.scripts.acquaintance import skill

    def send(body: bytes) -> bytes:
        return json.dumps(skill.handle(json.loads(body)), ensure_ascii=False).encode()

    return send


def django_webhook() -> Send:
    """Return a sender that posts to /alice/ through Django's test client."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    # Production settings, as a webhook is served: DEBUG off, so HTTPS and a secret key.
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", os.urandom(32).hex())
    warnings.filterwarnings("ignore", message="No directory at")  # no collectstatic here
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's host in
    client = Client()

    def send(body: bytes) -> bytes:
        response = client.post("/alice/", body, content_type="application/json", secure=True)
        assert response.status_code == 200, response.content
        return response.content

    return send


def alice_scripts_flask() -> Send:
    """Return a sender that posts to the README script on alice_scripts, via Flask's client."""
    client = alice_scripts_skill().test_client()

    def send(body: bytes) -> bytes:
        response = client.post("/", data=body, content_type="application/json")
        assert response.status_code == 200, response.data
        return response.data

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dialogs", type=int, default=3000, help="dialogs per way (4 requests each)"
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds the ways take turns in")
    parser.add_argument("--warmup", type=int, default=200, help="dialogs run before measuring")
    args = parser.parse_args()

    ways = {
        "engine": engine_in_process(),
        "django": django_webhook(),
        "alice_scripts_flask": alice_scripts_flask(),
    }
    from django.conf import settings

    for way, send in ways.items():
        for dialog in dialogs(f"{way}-warmup", args.warmup):
            for body in dialog:
                send(body)
    per_round = max(1, args.dialogs // args.rounds)
    latencies: dict[str, list[int]] = {way: [] for way in ways}
    elapsed = dict.fromkeys(ways, 0.0)
    cpu = dict.fromkeys(ways, 0.0)
    order = list(ways)
    for n in range(args.rounds):
        for way in order[n % 3 :] + order[: n % 3]:
            work = dialogs(f"{way}-{n}", per_round)
            wall_seconds, cpu_seconds = run_round(way, ways[way], work, latencies[way])
            elapsed[way] += wall_seconds
            cpu[way] += cpu_seconds
    results = {way: summary(latencies[way], elapsed[way], cpu[way]) for way in ways}

    baseline = results["alice_scripts_flask"]
    ratios = {
        "engine_vs_alice_scripts": round(results["engine"]["rps"] / baseline["rps"], 2),
        "django_vs_alice_scripts": round(results["django"]["rps"] / baseline["rps"], 2),
        "engine_vs_alice_scripts_cpu": round(
            results["engine"]["rps_cpu"] / baseline["rps_cpu"], 2
        ),
        "django_vs_alice_scripts_cpu": round(
            results["django"]["rps_cpu"] / baseline["rps_cpu"], 2
        ),
    }
    targets = {
        "engine_at_least_3x": ratios["engine_vs_alice_scripts"] >= 3,
        "django_at_least_1x": ratios["django_vs_alice_scripts"] >= 1,
    }

    print(
        f"README dialog, 4 requests each; Django DEBUG={settings.DEBUG}; {sys.version.split()[0]}"
    )
    print(f"{'way':<22}{'requests':>9}{'req/s':>10}{'req/CPU-s':>11}{'p50 µs':>9}{'p99 µs':>9}")
    for way, result in results.items():
        print(
            f"{way:<22}{result['requests']:>9}{result['rps']:>10.0f}{result['rps_cpu']:>11.0f}"
            f"{result['p50_us']:>9.1f}{result['p99_us']:>9.1f}"
        )
    print(
        f"engine / alice_scripts: {ratios['engine_vs_alice_scripts']}x "
        f"({ratios['engine_vs_alice_scripts_cpu']}x per CPU second), target ≥ 3; "
        f"django / alice_scripts: {ratios['django_vs_alice_scripts']}x "
        f"({ratios['django_vs_alice_scripts_cpu']}x per CPU second), target ≥ 1"
    )
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "django_debug": settings.DEBUG,
                "dialogs": per_round * args.rounds,
                "results": results,
                "ratios": ratios,
                "targets_met": targets,
            }
        )
    )


if __name__ == "__main__":
    main()
