"""Each of the project's protocol samples (alice/tests/samples), posted to the webhook."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from alice.engine import validate_request
from alice.scripts import acquaintance

from .conftest import REPO_ROOT, SAMPLES_DIR

GREETING = "Добрый день! Как вас зовут?"


@pytest.fixture
def post(client: Client):
    """Return a function posting raw bytes to a webhook URL."""

    def send(body: bytes, url: str = "/alice/"):
        return client.post(url, body, content_type="application/json")

    return send


def answer(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(response.content.decode("utf-8"))
    assert set(data) == {"response", "version"}
    return data["response"]


def test_default_skill_is_mounted_at_alice():
    """The README example answers at POST /alice/, named alice:webhook."""
    assert reverse("alice:webhook") == "/alice/"


def test_session_samples_in_order_on_the_readme_skill(post, fixture_bytes):
    """01 starts, 02 gives the name, 07 (a retry of 02) gets 02's answer again, 03 and 04
    are re-asked: the README script wants the age as digits alone."""
    assert answer(post(fixture_bytes("01"))) == {"text": GREETING, "end_session": False}
    name = post(fixture_bytes("02"))
    assert answer(name) == {"text": "Сколько вам лет?", "end_session": False}
    retry = post(fixture_bytes("07"))
    assert retry.content == name.content
    reask = {"text": "Я вас не поняла. Скажите число", "end_session": False}
    assert answer(post(fixture_bytes("03"))) == reask  # "мне 25 лет" is not digits alone
    assert answer(post(fixture_bytes("04"))) == reask


def test_session_samples_in_order_on_the_nlu_skill(post, fixture_bytes):
    """On the NLU script, 01 → 02 → 07 → 03 → 04 is a whole dialog: FIO, NUMBER, a suggest."""
    url = reverse("alice:pet_gift")
    assert answer(post(fixture_bytes("01"), url))["text"] == GREETING
    name = post(fixture_bytes("02"), url)
    assert answer(name)["text"] == "Сколько вам лет?"
    assert post(fixture_bytes("07"), url).content == name.content
    pets = answer(post(fixture_bytes("03"), url))
    assert pets["text"] == "Вы любите кошек или собак?"
    assert [button["payload"]["answer"] for button in pets["buttons"]] == ["cats", "dogs"]
    assert answer(post(fixture_bytes("04"), url)) == {
        "text": "Рада познакомиться, Маша! Когда вам исполнится 26, я могу подарить котёнка!",
        "end_session": True,
    }


def test_button_pressed_sample_answers_the_pet_question(post, fixture_bytes):
    """05, a ButtonPressed with a payload and no command, picks the dogs."""
    url = reverse("alice:pet_gift")
    for number in ("01", "02", "03"):
        post(fixture_bytes(number), url)
    assert answer(post(fixture_bytes("05"), url)) == {
        "text": "Рада познакомиться, Маша! Когда вам исполнится 26, я могу подарить щенка!",
        "end_session": True,
    }


def test_button_pressed_sample_on_the_readme_skill(post, fixture_bytes, fixture_json):
    """05 on the README script: no command, yet its title's lemmas answer the pet question."""
    post(fixture_bytes("01"))
    post(fixture_bytes("02"))
    age = fixture_json("03")
    age["request"]["command"] = "25"
    post(json.dumps(age).encode())
    assert answer(post(fixture_bytes("05")))["text"].endswith("я могу подарить щенка!")


def test_button_pressed_sample_alone_starts_the_script(post, fixture_bytes):
    """05 for a session this process does not know starts the script: no 500."""
    assert answer(post(fixture_bytes("05")))["text"] == GREETING


def test_ping_sample_is_answered_at_once_and_starts_nothing(post, fixture_bytes, fixture_json):
    """06 gets a quick answer, and no session is kept for it."""
    assert answer(post(fixture_bytes("06"))) == {"text": "pong", "end_session": False}
    assert acquaintance.skill.store.get(fixture_json("06")["session"]["session_id"]) is None
    assert len(acquaintance.skill.store) == 0


def test_new_session_sample_restarts_a_known_session(post, fixture_json):
    """08 opens a new session under an id with a dialog in progress: the script restarts."""
    opening = fixture_json("08")
    session_id = opening["session"]["session_id"]
    earlier = fixture_json("01")
    earlier["session"]["session_id"] = session_id
    post(json.dumps(earlier).encode())
    later = fixture_json("02")
    later["session"]["session_id"] = session_id
    assert answer(post(json.dumps(later).encode()))["text"] == "Сколько вам лет?"
    assert answer(post(json.dumps(opening).encode())) == {"text": GREETING, "end_session": False}
    assert acquaintance.skill.store.get(session_id).turns == 1


def test_new_session_sample_alone_starts_the_script(post, fixture_bytes):
    """08 for an unknown session starts the script, whatever the activation phrase."""
    assert answer(post(fixture_bytes("08")))["text"] == GREETING


def test_malformed_sample_is_a_400_with_a_json_error(post, fixture_bytes):
    """09 (no `request`, wrong types) is refused with a JSON error naming the problems."""
    response = post(fixture_bytes("09"))
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json; charset=utf-8"
    error = response.json()
    assert error["error"] == "the body is not an Alice protocol request"
    assert "request is required" in error["details"]
    assert "version must be a string" in error["details"]
    assert "session.session_id is required" in error["details"]
    assert "session.message_id must be an integer" in error["details"]
    assert "session.new must be a boolean" in error["details"]


def test_invalid_json_sample_is_a_400_with_a_json_error(post, fixture_bytes):
    """10 (cut-off JSON) is refused with a JSON error."""
    response = post(fixture_bytes("10"))
    assert response.status_code == 400
    assert response.json() == {"error": "the body is not JSON in UTF-8"}


CASES = {
    "01": "new_session",
    "02": "name_utterance",
    "03": "number_entity",
    "04": "suggest_as_utterance",
    "05": "button_pressed",
    "06": "ping",
    "07": "retry_of_name",
    "08": "new_session_with_state",
    "09": "missing_request",
    "10": "invalid_json",
}


def test_the_samples_are_the_repositorys_own():
    """Every case has its sample in alice/tests/samples, and nothing of the alice app or its
    guide reads samples from outside the repository."""
    assert sorted(path.name for path in SAMPLES_DIR.glob("*.json")) == [
        f"{number}_{case}.json" for number, case in CASES.items()
    ]
    # Spelled in pieces, so that this file does not mention them either.
    outside = ["../" + "shared", "shared/" + "alice-fixtures", "ALICE_" + "FIXTURES_DIR"]
    sources = [*(REPO_ROOT / "alice").rglob("*.py"), REPO_ROOT / "docs" / "alice.md"]
    for path in sources:
        text = path.read_text()
        assert not [name for name in outside if name in text], path


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05", "06", "07", "08"])
def test_the_valid_samples_follow_the_protocol(fixture_json, number):
    """The valid samples carry what Yandex Dialogs sends: meta, session, request, state and
    version 1.0, and the engine accepts them."""
    data = fixture_json(number)
    assert validate_request(data) is data
    assert set(data) == {"meta", "session", "request", "state", "version"}
    assert data["version"] == "1.0"
    assert {"locale", "timezone", "client_id", "interfaces"} <= set(data["meta"])
    session = data["session"]
    assert {"message_id", "session_id", "skill_id", "user_id", "application", "new"} <= set(
        session
    )
    assert set(data["request"]["nlu"]) == {"tokens", "entities", "intents"}
    assert data["request"].get("type") in ("SimpleUtterance", "ButtonPressed")


def test_the_retry_sample_repeats_the_name_utterance(fixture_json):
    """07 is 02 sent again: the same session, message id and request."""
    assert fixture_json("07") == fixture_json("02")


def test_the_invalid_json_sample_is_not_json(fixture_bytes):
    """10 is cut off: no JSON parser takes it."""
    with pytest.raises(json.JSONDecodeError):
        json.loads(fixture_bytes("10"))
