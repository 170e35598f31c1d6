"""Issue 13: events (AudioPlayer.*, Purchase.Confirmation, Show.Pull, Geolocation.*,
AccountLinkingComplete): answered outside the dialog, or by the script that asked for them."""

import copy
import json
from pathlib import Path

import pytest

from alice import (
    RequestType,
    Skill,
    request,
    request_geolocation,
    say,
    show_item_meta,
    start_account_linking,
)
from alice.engine import MemorySessionStore
from alice.testing import DialogClient, RecordingMemoryStore
from alice.testing.conformance import check_answer

EVENTS_DIR = Path(__file__).resolve().parent / "samples" / "events"
SAMPLES = sorted(EVENTS_DIR.glob("*.json"))

chatter = Skill("alice.tests.chatter")


@chatter.script
def count_utterances():
    number = 0
    while True:
        number += 1
        yield say(f"{number}: {request.command}")


def sample(path: Path, session_id: str, message_id: int) -> dict:
    data = copy.deepcopy(json.loads(path.read_text()))
    data["session"].update(session_id=session_id, message_id=message_id, new=False)
    return data


def test_there_is_a_sample_of_every_event_type():
    types = {json.loads(path.read_text())["request"]["type"] for path in SAMPLES}
    assert types == {value for name, value in vars(RequestType).items() if name.isupper()} - {
        "SimpleUtterance",
        "ButtonPressed",
    }


@pytest.mark.parametrize("store", [MemorySessionStore, RecordingMemoryStore])
@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_an_event_is_answered_outside_the_dialog(path, store):
    """Without a handler: no turn, no cap counted, the dialog goes on where it was; an
    AudioPlayer event gets an answer without text, any other the skill's event_text."""
    skill = chatter.using(store())
    client = DialogClient(skill)
    client.dialog("раз", "два")
    turns = skill.store.get(client.session_id).turns
    answer = skill.handle(sample(path, client.session_id, client.message_id + 1))
    request_type = json.loads(path.read_text())["request"]["type"]
    check_answer(answer, request_type=request_type)
    if request_type.startswith("AudioPlayer."):
        assert answer == {"response": {"end_session": False}, "version": "1.0"}
    else:
        assert answer["response"] == {"text": skill.event_text, "end_session": False}
    assert skill.store.get(client.session_id).turns == turns
    client.message_id += 1
    assert client.say("три").text == "4: три"


handled = Skill("alice.tests.handled")
seen: list[str] = []


@handled.script
def handled_script():
    while True:
        yield say(f"Слушаю: {request.command}")


@handled.on_event("AudioPlayer.*")
def on_audio():
    seen.append(request.type)


@handled.on_event(RequestType.SHOW_PULL)
def on_show():
    return say(
        "Доброе утро! Сегодня солнечно.",
        show_item_meta("weather-1", publication_date="2026-11-30T06:00:00Z"),
        end_session=True,
    )


@handled.on_event(RequestType.PURCHASE_CONFIRMATION)
def on_purchase():
    return say(f"Оплата {request['request']['purchase_request_id'][:6]} прошла")


def test_handlers_answer_their_events():
    client = DialogClient(handled)
    client.start()
    assert client.audio_player("PlaybackStarted").text == ""
    assert client.audio_player("PlaybackFailed").raw["response"] == {"end_session": False}
    assert seen[-2:] == ["AudioPlayer.PlaybackStarted", "AudioPlayer.PlaybackFailed"]
    paid = client.purchase_confirmation("d432de19be83")
    assert paid.text == "Оплата d432de прошла"
    assert client.say("дальше").text == "Слушаю: дальше"
    show = DialogClient(handled).show_pull()
    assert show.end_session
    assert show.raw["response"]["show_item_meta"]["content_id"] == "weather-1"


def test_a_failing_handler_is_logged_and_answered(caplog):
    skill = Skill("alice.tests.failing_handler")

    @skill.on_event(RequestType.SHOW_PULL)
    def broken():
        raise RuntimeError("boom")

    reply = DialogClient(skill).show_pull()
    assert reply.text == skill.apology_text
    assert not reply.end_session
    assert "the handler of Show.Pull failed" in caplog.text


def test_an_unknown_event_type_is_refused_when_registering():
    with pytest.raises(ValueError, match=r"'Show\.Push' is not an event type"):
        handled.on_event("Show.Push")(lambda: None)
    with pytest.raises(ValueError, match="at least one event type"):
        handled.on_event()(lambda: None)


waiting = Skill("alice.tests.waiting")


@waiting.script
def waiting_script():
    yield say("Привяжем аккаунт?", start_account_linking())
    while request.type != RequestType.ACCOUNT_LINKING_COMPLETE:
        yield say("Жду, когда вы войдёте", start_account_linking())
    yield say(f"Вошли: {request.is_authorized}", request_geolocation())
    if request.type == RequestType.GEOLOCATION_ALLOWED:
        yield say(f"Вы здесь: {request.location['lat']}")
    else:
        yield say("Ну и ладно")
    yield say(f"Снова вы: {request.command}, {request.is_authorized}", end_session=True)


@pytest.mark.parametrize("replay", [False, True])
def test_a_script_waits_for_the_event_it_asked_for(replay):
    client = DialogClient(waiting, replay=replay)
    assert client.start().directives == {"start_account_linking": {}}
    assert client.say("что это").text == "Жду, когда вы войдёте"
    assert client.account_linking_complete("token-1").text == "Вошли: True"
    assert client.geolocation_allowed(56.8, 60.6).text == "Вы здесь: 56.8"
    assert client.say("привет").text == "Снова вы: привет, True"


def test_a_rejected_geolocation_reaches_the_script_too():
    client = DialogClient(waiting, replay=True)
    client.start()
    client.account_linking_complete("token-1")
    assert client.geolocation_rejected().text == "Ну и ладно"


def test_an_event_the_script_did_not_ask_for_does_not_reach_it():
    """AccountLinkingComplete after an answer without start_account_linking: the skill's
    event_text, and the dialog still waits where it was."""
    client = DialogClient(waiting, replay=True)
    client.start()
    client.account_linking_complete("token-1")
    assert client.geolocation_allowed(1.0, 2.0).text == "Вы здесь: 1.0"
    assert client.account_linking_complete("token-2").text == waiting.event_text
    assert client.say("я").text == "Снова вы: я, True"


def test_events_do_not_count_towards_the_turn_cap():
    store = RecordingMemoryStore(max_turns=3)
    client = DialogClient(chatter.using(store))
    client.dialog("раз")
    for _ in range(10):
        client.audio_player("PlaybackNearlyFinished")
    assert client.say("два").text == "3: два"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_each_event_sample_posted_to_the_webhook(webhook, path):
    """Through either adapter (the Django view, the WSGI router): a protocol answer."""
    data = json.loads(path.read_text())
    status, answer = webhook("/alice/", json.dumps(data).encode())
    assert status == 200
    check_answer(answer, request_type=data["request"]["type"])
