"""Issue 13: the deadline guard. A turn whose outside call (recorded()) is late is answered
Skill.deadline_text and abandoned: the dialog does not advance, nothing is recorded, and the
user's next request runs the turn again; a request waiting behind a running turn of its
session is answered by the deadline too."""

import contextlib
import threading
import time
import uuid

import pytest

from alice import Skill, recorded, request, say
from alice.engine import MemorySessionStore
from alice.engine.deadline import DEFAULT_DEADLINE, default_deadline
from alice.testing import DialogClient

from .test_engine import request_for, text_of

DEADLINE = 0.5
# Room for a loaded 2-core machine: the fallback must come well before the slow call ends.
SLACK = 0.6
SLOW = 2.0


class Lookup:
    """An outside call that is slow the first time it is made for a word."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, word: str) -> str:
        self.calls.append(word)
        if self.calls.count(word) == 1:
            time.sleep(SLOW)
        return word.upper()


def slow_skill(lookup: Lookup) -> Skill:
    skill = Skill("alice.tests.slow", deadline=DEADLINE)

    @skill.script
    def script():
        yield say("Скажите слово")
        while True:
            value = recorded(lookup, request.command)
            yield say(f"Ответ: {value}")

    return skill


def test_the_default_deadline_is_three_seconds_and_the_settings_give_it():
    assert DEFAULT_DEADLINE == 3.0
    assert default_deadline() == 3.0  # AliceConfig.ready() set ALICE_DEADLINE's default


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.parametrize("hop", [False, True], ids=["one process", "two processes"])
def test_a_late_outside_call_is_answered_by_the_deadline_and_abandoned(backend, hop):
    lookup = Lookup()
    a, b = backend(), backend()
    skill = slow_skill(lookup)
    session_id = str(uuid.uuid4())
    assert text_of(skill.using(a).handle(request_for(session_id, 0, new=True))) == (
        "Скажите слово"
    )
    answer, seconds = timed(lambda: skill.using(a).handle(request_for(session_id, 1, "кот")))
    assert text_of(answer) == skill.deadline_text
    assert not answer["response"]["end_session"]
    assert seconds < DEADLINE + SLACK
    assert a.get(session_id).turns == 1  # not advanced, nothing recorded
    assert len(a.history(session_id)) == 1
    # The user says it again (here after the late call ended): the turn runs again, on a
    # replay of the record, in this process or another.
    time.sleep(SLOW - seconds + 0.1)
    again = b if hop else a
    assert text_of(skill.using(again).handle(request_for(session_id, 2, "кот"))) == "Ответ: КОТ"
    assert text_of(skill.using(a).handle(request_for(session_id, 3, "пёс"))) == (
        skill.deadline_text
    )
    time.sleep(SLOW)
    assert text_of(skill.using(b).handle(request_for(session_id, 4, "пёс"))) == "Ответ: ПЁС"
    assert lookup.calls == ["кот", "кот", "пёс", "пёс"]


def test_without_a_record_an_abandoned_turn_starts_the_dialog_over():
    """The in-memory store keeps only the generator, which the deadline broke."""
    lookup = Lookup()
    skill = slow_skill(lookup).using(MemorySessionStore())
    client = DialogClient(skill)
    client.start()
    assert client.say("кот").text == skill.deadline_text
    assert client.say("кот").text == "Скажите слово"


def test_the_guard_off():
    skill = Skill("alice.tests.unguarded", deadline=float("inf"))

    @skill.script
    def script():
        yield say("Скажите слово")
        yield say(recorded(lambda: "без спешки"))

    assert DialogClient(skill).dialog("а")[1].text == "без спешки"


@pytest.mark.parametrize("hop", [False, True], ids=["one process", "two processes"])
def test_a_request_waiting_behind_a_running_turn_obeys_the_deadline(backend, hop):
    """A turn slow outside recorded() (not interrupted) holds the session; the next request
    of the session gets busy_text by its own deadline, and changes nothing. (Across
    processes, the dialog starts in a third one: on Redis a process that holds the
    dialog's generator runs its turn without waiting for the lock, the fast path.)"""
    skill = Skill("alice.tests.busy", deadline=DEADLINE)

    @skill.script
    def script():
        yield say("Привет")
        time.sleep(SLOW)  # the script's own work: not interrupted
        yield say(f"Медленно: {request.command}")
        yield say(f"Потом: {request.command}")

    a, b, c = backend(), backend(), backend()
    session_id = str(uuid.uuid4())
    skill.using(c if hop else a).handle(request_for(session_id, 0, new=True))
    results = {}
    first = threading.Thread(
        target=lambda: results.update(
            first=skill.using(a).handle(request_for(session_id, 1, "один"))
        )
    )
    first.start()
    time.sleep(0.2)
    second = b if hop else a
    answer, seconds = timed(lambda: skill.using(second).handle(request_for(session_id, 2, "два")))
    first.join()
    assert text_of(answer) == skill.busy_text
    assert seconds < DEADLINE + SLACK
    assert text_of(results["first"]) == "Медленно: один"
    assert text_of(skill.using(second).handle(request_for(session_id, 2, "два"))) == ("Потом: два")


def test_a_script_cannot_swallow_the_deadline():
    skill = Skill("alice.tests.swallow", deadline=0.2)

    @skill.script
    def script():
        yield say("Привет")
        with contextlib.suppress(BaseException):  # what a careless script does
            recorded(time.sleep, 1.0)
        yield say("Дальше")

    client = DialogClient(skill, replay=True)
    client.start()
    assert client.say("а").text == skill.deadline_text


def test_alice_deadline_comes_from_the_settings():
    from types import SimpleNamespace

    from alice.apps import deadline_from_settings

    assert deadline_from_settings(SimpleNamespace()) == DEFAULT_DEADLINE
    assert deadline_from_settings(SimpleNamespace(ALICE_DEADLINE="2.5")) == 2.5
