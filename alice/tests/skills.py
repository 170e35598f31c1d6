"""Skills that misbehave on purpose, for the regression tests of the engine."""

import time

from alice import Skill, request, say

ALL: list[Skill] = []


def _skill(name: str, **kwargs) -> Skill:
    skill = Skill(f"alice.tests.skills.{name}", **kwargs)
    ALL.append(skill)
    return skill


counter = _skill("counter")


@counter.script
def count():
    """Answer 1, 2, 3, ...: shows how far the dialog advanced."""
    n = 0
    while True:
        n += 1
        yield say(str(n))


slow_counter = _skill("slow_counter")


@slow_counter.script
def count_slowly():
    """Like count, but each step takes 50 ms: two requests at once overlap inside it."""
    n = 0
    while True:
        n += 1
        time.sleep(0.05)
        yield say(str(n))


impatient = _skill("impatient", lock_timeout=0.05)


@impatient.script
def count_impatiently():
    """Take 500 ms per step, while requests wait at most 50 ms for the session."""
    n = 0
    while True:
        n += 1
        time.sleep(0.5)
        yield say(str(n))


failing = _skill("failing")


@failing.script
def fail_on_second_request():
    yield say("Назовите число")
    yield say(f"Обратное: {1 / int(request.command)}")
    yield say("Готово", end_session=True)


unfinished = _skill("unfinished")


@unfinished.script
def forget_end_session():
    yield say("Привет!")
    yield say("Я всё сказала.")


yields_text = _skill("yields_text")


@yields_text.script
def yield_a_string():
    yield "not say()"


oversized = _skill("oversized")


@oversized.script
def say_too_much():
    yield say(
        "т" * 2000,
        tts="д" * 1500,
        buttons=[
            {"title": "к" * 100, "url": "https://example.com/" + "a" * 2000},
            {"title": "Ок", "payload": {"data": "x" * 5000}},
            {"title": "Норма", "payload": {"step": 1}, "url": "https://example.com/"},
            {"no": "title"},
        ],
    )
    yield say(suggest_only=True)
    yield say(tts="Только голосом")
    yield say("", end_session=True)


echo = _skill("echo")


@echo.script
def echo_slowly():
    """Repeat each command after a pause, to show that each request sees its own."""
    while True:
        command = request.command
        time.sleep(0.02)
        yield say(f"{command}|{request.command}")
