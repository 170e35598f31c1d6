"""
What the Alice benchmarks share: the README dialog, its requests, and alice_scripts itself.

alice_scripts 0.2.post1 is the original engine measured against. It imports pymorphy2, which
calls ``inspect.getargspec``, gone in Python 3.11: ``alice_scripts_skill()`` adds it back
(bench only) before importing it. Gunicorn serves that skill with
``gunicorn 'bench.alice_common:alice_scripts_skill()'``.
"""

import inspect
import json
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The README example as this project serves it; alice_scripts runs the same file, but for
# its import line, so that both engines answer one script.
README_SCRIPT_PATH = ROOT / "alice" / "scripts" / "acquaintance.py"
PROJECT_IMPORT = "from alice import Skill, request, say, suggest"
ALICE_SCRIPTS_IMPORT = "from alice_scripts import Skill, request, say, suggest"

# (command, original_utterance) of each turn, as Alice sends them.
TURNS = [("", ""), ("саша", "Саша."), ("25", "25"), ("обожаю кошечек", "Обожаю кошечек")]
FINAL_TEXT = "Рада познакомиться, саша! Когда вам исполнится 26, я могу подарить котёнка!"


def request_body(session_id: str, message_id: int, command: str, utterance: str) -> bytes:
    """Return one protocol request of the dialog, encoded."""
    tokens = command.split()
    return json.dumps(
        {
            "meta": {
                "locale": "ru-RU",
                "timezone": "Europe/Moscow",
                "client_id": "bench",
                "interfaces": {"screen": {}},
            },
            "request": {
                "command": command,
                "original_utterance": utterance,
                "type": "SimpleUtterance",
                "markup": {"dangerous_context": False},
                "nlu": {"tokens": tokens, "entities": [], "intents": {}},
            },
            "session": {
                "message_id": message_id,
                "session_id": session_id,
                "skill_id": "bench-skill",
                "user_id": "BENCH-USER",
                "application": {"application_id": "BENCH-USER"},
                "user": {"user_id": "BENCH-ACCOUNT", "access_token": "secret"},
                "new": message_id == 0,
            },
            "state": {"session": {}, "user": {}, "application": {}},
            "version": "1.0",
        },
        ensure_ascii=False,
    ).encode()


def dialogs(prefix: str, count: int) -> list[list[bytes]]:
    """Return *count* dialogs of encoded requests, each in a session of its own."""
    return [
        [request_body(f"{prefix}-{n:08d}", i, *turn) for i, turn in enumerate(TURNS)]
        for n in range(count)
    ]


@cache
def alice_scripts_skill() -> Any:
    """Return the README script on alice_scripts: a Flask app (a WSGI application)."""
    # pymorphy2 (which alice_scripts imports) calls inspect.getargspec, gone in Python 3.11.
    if not hasattr(inspect, "getargspec"):
        inspect.getargspec = lambda func: inspect.getfullargspec(func)[:4]  # type: ignore[attr-defined]
    module = types.ModuleType("readme_on_alice_scripts")
    module.__file__ = __file__
    sys.modules[module.__name__] = module
    source = README_SCRIPT_PATH.read_text()
    if PROJECT_IMPORT not in source:
        raise RuntimeError(f"{README_SCRIPT_PATH} no longer imports with {PROJECT_IMPORT!r}")
    source = source.replace(
        PROJECT_IMPORT, "from alice_scripts import Skill, request, say, suggest"
    )
    exec(compile(source, "<README on alice_scripts>", "exec"), module.__dict__)
    return module.skill
