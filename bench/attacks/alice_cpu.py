"""
Attack: tiny webhook requests that make the server replay a huge recorded dialog.

Any process that does not hold a dialog's generator rebuilds it by replaying the recorded
turns; the README script lemmatises every word at its pet question, and an unseen word costs
pymorphy3 a fraction of a millisecond. So the attacker fills one session's record with turns
as long as the webhook accepts, of distinct words (at most --fill-bytes, stopping one maximal
turn short of where the server ends the dialog), then sends small requests of that session,
each to a process that replays it all: a store that keeps no generator, the lemma cache
cleared. Prints what was sent, what Redis (BENCH_REDIS_URL) keeps per turn, and the CPU
seconds of the small requests; asserts nothing. It imports alice from its own checkout:

    .venv/bin/python bench/attacks/alice_cpu.py [--requests 8]
"""

import argparse
import io
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from alice.engine.morphology import lemma  # noqa: E402
from alice.engine.redis_store import RedisSessionStore  # noqa: E402
from alice.engine.webhook import DEFAULT_MAX_BODY_SIZE, answer_webhook  # noqa: E402
from alice.scripts import acquaintance  # noqa: E402
from bench.alice_common import request_body  # noqa: E402
from bench.common import REDIS_URL, delete_redis_keys  # noqa: E402

LETTERS = "абвгдежзиклмнопрстуфхцчшщэюя"
# The protocol's own limit on an utterance, which a server may enforce.
PROTOCOL_COMMAND_LIMIT = 1024
SMALL_COMMAND = "рыбки"  # neither cats nor dogs: the script asks again, the dialog goes on


class Attack:
    """One attacker against one skill on a Redis store."""

    def __init__(self, client: redis.Redis, prefix: str, seed: int) -> None:
        self.client = client
        self.words = random.Random(seed)
        self.store = RedisSessionStore(client=client, key_prefix=prefix, namespace="attack")
        self.skill = acquaintance.skill.using(self.store)
        self.sent = 0  # bytes of request bodies
        self.command_limit: int | None = None  # characters, once the server refused more

    def post(self, skill: Any, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Send one request body to the webhook; return the status and the JSON answer."""
        body = json.dumps(data, ensure_ascii=False).encode()
        self.sent += len(body)
        answer = answer_webhook(
            skill, method="POST", content_length=str(len(body)), read=io.BytesIO(body).read
        )
        return answer.status, json.loads(answer.body)

    def turn(self, session_id: str, message_id: int, command: str) -> dict[str, Any]:
        """Return a protocol request as Alice sends it, minus the NLU tokens (less to send)."""
        data = json.loads(request_body(session_id, message_id, command, ""))
        data["request"]["nlu"]["tokens"] = []
        return data

    def command(self, characters: int) -> str:
        """Return distinct six-letter words, up to *characters* characters."""
        count = max(1, (characters + 1) // 7)
        return " ".join(
            "".join(self.words.choice(LETTERS) for _ in range(6)) for _ in range(count)
        )

    def maximal_command(self, session_id: str, message_id: int) -> str:
        """Return the longest command the server takes (at most what fits in a body)."""
        if self.command_limit is not None:
            return self.command(self.command_limit)
        empty = len(json.dumps(self.turn(session_id, message_id, ""), ensure_ascii=False))
        return self.command((DEFAULT_MAX_BODY_SIZE - empty - 64) // 2)  # 2 bytes a letter

    def open(self, session_id: str) -> int:
        """Bring the README dialog to its pet question; return the next message id."""
        for message_id, command in enumerate(["", "Саша", "25"]):
            data = self.turn(session_id, message_id, command)
            data["session"]["new"] = message_id == 0
            status, answer = self.post(self.skill, data)
            assert status == 200, answer
        return 3

    def fill(self, session_id: str, fill_bytes: int, limit: int | None) -> tuple[int, int, bool]:
        """
        Send maximal turns: *fill_bytes* of commands, or *limit* turns, or until the server
        ends the dialog. Return the next message id, the turns recorded and whether it ended.
        """
        message_id = self.open(session_id)
        sent = turns = 0
        while sent < fill_bytes and (limit is None or turns < limit):
            command = self.maximal_command(session_id, message_id)
            status, answer = self.post(self.skill, self.turn(session_id, message_id, command))
            if status == 400 and len(command) > PROTOCOL_COMMAND_LIMIT:
                # Long commands are refused: go on with the longest the protocol allows.
                self.command_limit = PROTOCOL_COMMAND_LIMIT
                continue
            assert status == 200, answer
            message_id += 1
            if answer["response"]["end_session"]:
                return message_id, turns, True
            sent += len(command.encode())
            turns += 1
        return message_id, turns, False

    def stored(self, session_id: str) -> list[int]:
        """Return the size in bytes of each turn Redis keeps for the session."""
        key = self.store.keys(session_id)[2]
        return [len(item) for item in self.client.lrange(key, 0, -1)]

    def replays(self, session_id: str, message_id: int, count: int) -> list[tuple[int, float]]:
        """Send *count* small requests, each replayed cold; return their sizes and CPU s."""
        cold = acquaintance.skill.using(
            RedisSessionStore(
                client=self.client,
                key_prefix=self.store.key_prefix,
                namespace="attack",
                max_sessions=0,
            )
        )
        results = []
        for offset in range(count):
            data = {
                "request": {"command": SMALL_COMMAND, "original_utterance": SMALL_COMMAND},
                "session": {
                    "session_id": session_id,
                    "message_id": message_id + offset,
                    "new": False,
                },
                "version": "1.0",
            }
            size = len(json.dumps(data, ensure_ascii=False).encode())
            lemma.cache_clear()
            started = time.process_time()
            status, answer = self.post(cold, data)
            results.append((size, time.process_time() - started))
            assert status == 200, answer
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8, help="small requests to send")
    parser.add_argument("--fill-bytes", type=int, default=192 * 1024, help="most to record")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"attack-{uuid.uuid4().hex[:8]}:"
    attack = Attack(client, prefix, args.seed)
    lemma("кошка")  # the analyzer's dictionaries load once per process: not the attack's cost
    try:
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        started = time.process_time()
        _, turns, ended = attack.fill(probe, args.fill_bytes, None)
        if ended:  # stop one maximal turn short of where the server ended the dialog
            session_id = f"attack-{uuid.uuid4().hex[:8]}"
            message_id, turns, _ = attack.fill(session_id, args.fill_bytes, max(0, turns - 1))
        else:
            session_id, message_id = probe, 3 + turns
        setup_cpu = time.process_time() - started
        setup_sent = attack.sent
        sizes = attack.stored(session_id)
        results = attack.replays(session_id, message_id, args.requests)
    finally:
        client.close()
        delete_redis_keys(REDIS_URL, prefix)

    big = sizes[3 : 3 + turns]
    total_cpu = sum(cpu for _, cpu in results)
    figures = {
        "tree": str(ROOT),
        "maximal_turns_recorded": turns,
        "dialog_ended_by_server_during_fill": ended,
        "setup_bytes_sent": setup_sent,
        "setup_cpu_s": round(setup_cpu, 2),
        "stored_bytes_per_maximal_turn": round(sum(big) / len(big)) if big else 0,
        "stored_bytes_session": sum(sizes),
        "small_requests": len(results),
        "small_request_bytes": max(size for size, _ in results),
        "small_requests_cpu_s": round(total_cpu, 2),
        "cpu_s_per_small_request": round(total_cpu / len(results), 3),
    }
    for name, value in figures.items():
        print(f"{name:36} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
