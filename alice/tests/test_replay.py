"""Replay: rebuilding a dialog from its recorded turns, outside values, divergence, the cap."""

import contextlib
import logging
import os
import random
import subprocess
import sys
import time
import uuid

import pytest

from alice import Skill, recorded, request, say, suggest
from alice.engine import MemorySessionStore
from alice.engine.request import Request, turn_seed
from alice.scripts import acquaintance, guess_number, pet_gift
from alice.testing import DialogClient, RecordingMemoryStore
from alice.tests import skills

from .conftest import REPO_ROOT
from .test_engine import request_for, text_of


def replaying(skill: Skill, **options) -> Skill:
    """Return *skill* on a store that keeps no generator: every request replays."""
    return skill.using(RecordingMemoryStore(max_sessions=0, **options))


def play_guess_number(client: DialogClient, secret: int) -> list[str]:
    texts = [client.start().text]
    reply = client.press("Готов")
    texts.append(reply.text)
    while not reply.end_session:
        asked = int(reply.text.rstrip("?").split()[-1])
        reply = client.say("Да" if secret > asked else "Нет")
        texts.append(reply.text)
    return texts


# Determinism of say()'s variants.


def test_variant_choice_depends_only_on_the_session_and_the_turn():
    """Two runs of one session id make the same choices; other sessions make others."""
    first = play_guess_number(DialogClient("guess_number", session_id="fixed"), 37)
    again = play_guess_number(
        DialogClient(guess_number.skill.using(MemorySessionStore()), session_id="fixed"), 37
    )
    assert first == again
    variants = {
        text.split()[0]
        for _ in range(20)
        for text in play_guess_number(DialogClient("guess_number"), 37)[2:-1]
    }
    assert variants == {"Ваше", "Правда"}


def test_the_seed_is_the_same_in_every_process():
    """The seed does not depend on the per-process salt of hash(): another process agrees."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from alice.engine.request import turn_seed; print(turn_seed('abc', 3))",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == turn_seed("abc", 3)
    assert turn_seed("abc", 3) != turn_seed("abc", 4)


@pytest.mark.parametrize("secret", [1, 37, 64, 100])
def test_guess_number_completes_when_every_turn_is_replayed(secret):
    """Its random variants replay to the same texts: no turn diverges."""
    client = DialogClient("guess_number", replay=True)
    assert play_guess_number(client, secret)[-1] == f"Думаю, вы загадали число {secret}!"


def test_the_readme_dialog_completes_when_every_turn_is_replayed(caplog):
    """The README script, rebuilt before each request, goes through every re-ask."""
    replies = DialogClient("acquaintance", replay=True).dialog(
        "Саша.", "не скажу", "33", "попугайчиков", "ну кошек"
    )
    assert replies[-1].text == (
        "Рада познакомиться, Саша! Когда вам исполнится 34, я могу подарить котёнка!"
    )
    assert "diverged" not in caplog.text


def test_pet_gift_with_a_pressed_button_completes_when_every_turn_is_replayed():
    """Payload buttons (ButtonPressed) replay like speech."""
    client = DialogClient("pet_gift", replay=True)
    client.dialog("Саша", "мне 25 лет")
    assert client.press("Люблю собак").text.endswith("я могу подарить щенка!")


def test_request_random_draws_the_same_numbers_on_replay():
    """`request.random` is seeded by the session and the turn."""
    skill = Skill("alice.tests.dice")

    @skill.script
    def dice():
        rolls = []
        while True:
            rolls.append(request.random.randint(1, 1_000_000))
            yield say(" ".join(map(str, rolls)))

    live = DialogClient(skill.using(MemorySessionStore()), session_id="dice")
    replayed = DialogClient(replaying(skill), session_id="dice")
    assert [r.text for r in live.dialog("a", "b", "c")] == [
        r.text for r in replayed.dialog("a", "b", "c")
    ]


# Outside values: recorded().


calls: list[str] = []

outside = Skill("alice.tests.outside")


@outside.script
def remember_outside_values():
    started = recorded(lambda: calls.append("time") or time.time())
    pair = recorded(lambda: calls.append("pair") or (1, "два"))
    yield say(f"{pair}")
    while True:
        number = recorded(random.randint, 1, 1_000_000)
        calls.append("number")
        yield say(f"{started} {number}")


def test_recorded_calls_once_live_and_returns_the_recorded_value_on_replay():
    """Every turn replays the earlier ones, yet each outside call was made once."""
    calls.clear()
    client = DialogClient(replaying(outside))
    replies = client.dialog("a", "b", "c")
    assert replies[0].text == "[1, 'два']"  # a tuple comes back as JSON gives it: a list
    started = {reply.text.split()[0] for reply in replies[1:]}
    assert len(started) == 1
    assert calls.count("time") == calls.count("pair") == 1
    # The code after recorded() runs on every replay; the calls inside it do not.
    assert calls.count("number") == 1 + 2 + 3


def test_recorded_values_are_kept_with_their_turn():
    """A turn's record holds what recorded() returned during it, in order."""
    store = RecordingMemoryStore()
    client = DialogClient(outside, store=store)
    client.dialog("a")
    first, second = store.history(client.session_id)
    assert first.values[1] == [1, "два"]
    assert isinstance(first.values[0], float)
    assert len(second.values) == 1


def test_recorded_refuses_a_value_json_cannot_hold(caplog):
    """A value that cannot be stored is the script's error: logged, answered with an apology."""
    skill = Skill("alice.tests.unstorable")

    @skill.script
    def unstorable():
        yield say(str(recorded(object)))

    reply = DialogClient(replaying(skill)).start()
    assert reply.text == skill.apology_text
    assert "recorded(): <class 'object'> returned a object" in caplog.text


def test_recorded_outside_a_script_says_why():
    """recorded() needs a running script."""
    with pytest.raises(RuntimeError, match="only available while a script handles a request"):
        recorded(time.time)


# Divergence.


def answer_after_redeploy(first_script, second_script, command: str = "а") -> str:
    """
    Start a dialog on *first_script*, then answer its second request with *second_script*
    (a deploy changed the script in between: the turn is replayed); return that answer.
    """
    store = RecordingMemoryStore(max_sessions=0)
    old, new = Skill("alice.tests.deployed"), Skill("alice.tests.deployed")
    old.script(first_script)
    new.script(second_script)
    session_id = str(uuid.uuid4())
    old.using(store).handle(request_for(session_id, 0, new=True))
    return text_of(new.using(store).handle(request_for(session_id, 1, command)))


def test_a_replay_that_answers_otherwise_ends_the_dialog_with_an_error(caplog):
    """A script that reads an unrecorded outside value diverges: ended cleanly, logged."""
    skill = Skill("alice.tests.careless")

    @skill.script
    def careless():
        yield say(f"Ваш номер {random.randint(1, 10**9)}")
        yield say("Дальше")

    client = DialogClient(replaying(skill))
    client.start()
    with caplog.at_level(logging.ERROR, logger="alice.engine"):
        reply = client.say("ну")
    assert reply.text == skill.lost_text
    assert reply.end_session is True
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "diverged at turn 1: the script answered otherwise than the first time" in (
        record.getMessage()
    )
    assert client.say("снова").text.startswith("Ваш номер")  # the next request starts over


def test_a_changed_script_diverges_rather_than_continue_in_a_wrong_state(caplog):
    """Turns recorded by one version of a script do not drive a different one."""

    def first():
        yield say("Как вас зовут?")
        yield say("Сколько вам лет?")

    def second():
        yield say("Как вас зовут? Представьтесь, пожалуйста.")
        yield say("Сколько вам лет?")

    assert answer_after_redeploy(first, second, "Саша") == Skill.lost_text
    assert "diverged at turn 1" in caplog.text


@pytest.mark.parametrize(
    ("count", "reason"),
    [(2, "more recorded() values"), (0, "fewer recorded() values")],
)
def test_a_different_number_of_recorded_values_is_a_divergence(caplog, count, reason):
    """Each turn must ask for as many recorded() values as the first time."""

    def first():
        recorded(time.time)
        yield say("Привет")
        yield say("Пока", end_session=True)

    def second():
        for _ in range(count):
            recorded(time.time)
        yield say("Привет")
        yield say("Пока", end_session=True)

    assert answer_after_redeploy(first, second) == Skill.lost_text
    assert reason in caplog.text


def test_a_divergence_caught_by_the_script_is_still_detected(caplog):
    """A script's broad `except Exception` around recorded() does not hide a divergence."""

    def first():
        yield say("Привет")
        yield say("Пока", end_session=True)

    def second():
        with contextlib.suppress(Exception):  # a script that swallows every error
            recorded(time.time)
        yield say("Привет")
        yield say("Пока", end_session=True)

    assert answer_after_redeploy(first, second) == Skill.lost_text
    assert "more recorded() values" in caplog.text


def test_a_replay_that_raises_is_a_divergence(caplog):
    """A script raising on replay where it did not live is ended, with the traceback."""

    def first():
        yield say("Привет")
        yield say("Дальше")

    def second():
        raise LookupError("gone")
        yield say("Привет")

    with caplog.at_level(logging.ERROR, logger="alice.engine"):
        assert answer_after_redeploy(first, second) == Skill.lost_text
    assert "LookupError" in caplog.text


def test_an_incomplete_record_is_a_divergence(caplog):
    """Fewer recorded turns than the session took cannot rebuild it."""
    store = RecordingMemoryStore(max_sessions=0)
    skill = skills.counter.using(store)
    client = DialogClient(skill)
    client.dialog("a", "b")
    stored, turns = store._records[client.session_id]
    store._records[client.session_id] = (stored, turns[:-1])
    assert client.say("c").text == skill.lost_text
    assert "2 turns are recorded of 3" in caplog.text


# What a turn records.


def test_the_access_token_is_not_recorded():
    """The user's access_token is never stored; the live request has it, and a replay sees
    the one of the request it answers."""
    seen = []
    skill = Skill("alice.tests.token")

    @skill.script
    def token():
        while True:
            seen.append(request["session"].get("user"))
            yield say("Привет")

    store = RecordingMemoryStore(max_sessions=0)
    user = {"user_id": "A", "access_token": "secret-token-42"}
    skill.using(store).handle(request_for("s", 0, new=True, user=user))
    assert seen == [user]
    (turn,) = store.history("s")
    # Whether the account was linked is recorded (so that a replay branches as the live
    # run did, issue 13), the token never.
    assert turn.request["session"] == {"message_id": 0, "new": True, "authorized": True}
    assert "secret-token-42" not in repr(store._records["s"])
    later = {"user_id": "A", "access_token": "secret-token-43"}
    skill.using(store).handle(request_for("s", 1, "а", user=later))
    assert seen[1:] == [later, later]  # the replay, then the live turn
    assert "secret-token-4" not in repr(store._records["s"])


def test_a_new_session_starts_a_new_history_and_an_ended_one_keeps_none():
    """session.new replaces the history; the end of the dialog drops it."""
    store = RecordingMemoryStore()
    client = DialogClient(acquaintance.skill, store=store)
    client.dialog("Саша", "25")
    assert len(store.history(client.session_id)) == 3
    client.start()
    assert len(store.history(client.session_id)) == 1
    client.dialog("Саша", "25", "кошки")
    assert store.history(client.session_id) == []


def test_a_retry_is_answered_from_the_record_without_a_replay():
    """A retry gets the stored response even in a process that holds no generator."""
    skill = replaying(guess_number.skill)
    session_id = str(uuid.uuid4())
    skill.handle(request_for(session_id, 0, new=True))
    answer = skill.handle(request_for(session_id, 1, "да"))
    for _ in range(5):
        assert skill.handle(request_for(session_id, 1, "да")) == answer


def test_replay_does_not_repeat_the_warnings_of_fitting(caplog):
    """Responses fitted into the limits warn when sent, not again on each replay."""
    client = DialogClient(skills.oversized, replay=True)
    with caplog.at_level(logging.WARNING, logger="alice.engine"):
        client.start()
        client.say("a")
    # 6 fixes of the first answer; the second's field suggest_only (not in the protocol)
    # and its missing text: each once, none again on the replay.
    assert len([r for r in caplog.records if "Response" in r.getMessage()]) == 6 + 2


# The cap.


@pytest.mark.parametrize(
    "store", [MemorySessionStore(max_turns=3), RecordingMemoryStore(max_turns=3)]
)
def test_past_max_turns_the_dialog_ends_politely(caplog, store):
    """The request past the cap gets a goodbye with end_session; a retry gets it again."""
    skill = skills.counter.using(store)
    client = DialogClient(skill)
    assert [r.text for r in client.dialog("a", "b")] == ["1", "2", "3"]
    with caplog.at_level(logging.WARNING, logger="alice.engine"):
        reply = client.say("c")
    assert (reply.text, reply.end_session) == (skill.too_long_text, True)
    assert "reached 3 turns" in caplog.text
    assert client.send(request_for(client.session_id, client.message_id, "c")) == reply.raw
    assert client.say("d").text == "1"


def test_skill_using_another_store_shares_the_script_and_phrases():
    """using() returns a twin on another store; the original keeps its own."""
    store = MemorySessionStore()
    twin = pet_gift.skill.using(store)
    assert twin.store is store
    assert pet_gift.skill.store is not store
    assert twin._script is pet_gift.skill._script
    assert DialogClient(twin).start().text == "Добрый день! Как вас зовут?"
    assert len(store) == 1


def test_a_request_outside_a_turn_draws_from_its_own_seed():
    """A Request built by hand still has a deterministic `random`."""
    data = request_for("x", 0, new=True)
    assert Request(data).random.random() == Request(data).random.random()


def test_suggest_buttons_survive_replay():
    """Modifiers run again on replay and give the same buttons."""
    skill = Skill("alice.tests.buttons")

    @skill.script
    def buttons():
        while True:
            yield say("Да или нет?", "Нет или да?", suggest("Да", "Нет"))

    replies = DialogClient(replaying(skill)).dialog("да", "нет", "да")
    assert all(reply.titles == ["Да", "Нет"] for reply in replies)


# The example of docs/alice.md, "Dialogs are replayed".

prizes: list[str] = []
emails: list[tuple] = []

guessing = Skill("alice.tests.guessing")


@guessing.script
def guess_my_number():
    started = recorded(time.time)  # the first run's time, on every replay
    secret = recorded(random.randint, 1, 100)  # or request.random.randint(1, 100)
    yield say("Я загадала число от 1 до 100. Угадаете?")
    while not request.numbers or request.numbers[0] != secret:
        if not request.numbers:
            yield say("Скажите число")
        else:
            yield say("Больше!" if request.numbers[0] < secret else "Меньше!")
    prize = recorded(lambda: prizes[0])
    recorded(lambda user_id, prize: emails.append((user_id, prize)), request.user_id, prize)
    seconds = round(recorded(time.time) - started)
    yield say(f"Угадали за {seconds} с! Ваш приз: {prize}.", end_session=True)


def test_the_documented_example_plays_to_the_end_with_every_turn_replayed():
    """Binary search on the example: each hint comes from the recorded secret; one email."""
    prizes[:] = ["кружка"]
    emails.clear()
    client = DialogClient(guessing, replay=True)
    assert client.start().text == "Я загадала число от 1 до 100. Угадаете?"
    assert client.say("не знаю").text == "Скажите число"
    lo, hi = 1, 100
    while True:
        guess = (lo + hi) // 2
        reply = client.say(str(guess))
        if reply.end_session:
            break
        if reply.text == "Больше!":
            lo = guess + 1
        else:
            assert reply.text == "Меньше!"
            hi = guess - 1
    assert reply.text.endswith("Ваш приз: кружка.")
    assert emails == [(client.user_id, "кружка")]
