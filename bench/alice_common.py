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

# The README example of alice_scripts, verbatim but for its import line.
README_SCRIPT = """
{import_line}

skill = Skill(__name__)


@skill.script
def run_script():
    yield say('Добрый день! Как вас зовут?')
    name = request.command

    yield say('Сколько вам лет?')
    while not request.matches(r'\\d+'):
        yield say('Я вас не поняла. Скажите число')
    age = int(request.command)

    yield say('Вы любите кошек или собак?', suggest('Обожаю кошечек', 'Люблю собак'))
    while not request.has_lemmas('кошка', 'кошечка', 'собака', 'собачка'):
        yield say('У вас только два варианта - кошки или собаки')
    loves_cats = request.has_lemmas('кошка', 'кошечка')

    yield say(f'Рада познакомиться, {{name}}! Когда вам исполнится {{age + 1}}, '
              f'я могу подарить {{"котёнка" if loves_cats else "щенка"}}!', end_session=True)
"""

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
    source = README_SCRIPT.format(
        import_line="from alice_scripts import Skill, request, say, suggest"
    )
    exec(compile(source, "<README on alice_scripts>", "exec"), module.__dict__)
    return module.skill
