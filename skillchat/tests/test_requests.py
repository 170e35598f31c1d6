"""The Alice requests built from the chat, checked against the protocol; answers read back."""

import pytest

from alice.engine.protocol import validate_request
from alice.engine.request import Request
from alice.scripts.acquaintance import skill as acquaintance
from alice.testing import RecordingMemoryStore
from alice.testing.conformance import check_answer
from skillchat import alice_requests, answers


def build(body, *, message_id=1, zone="Asia/Yekaterinburg", states=None, user_id=7):
    return alice_requests.build_request(
        body,
        partner_id=3,
        user_id=user_id,
        thread_id=11,
        session_seq=2,
        message_id=message_id,
        time_zone=zone,
        states=states,
    )


def test_an_utterance_is_normalised_as_dialogs_does():
    request = validate_request(build(alice_requests.utterance_body("Мне 25 лет, а брату -3!")))
    body = request["request"]
    assert body["original_utterance"] == "Мне 25 лет, а брату -3!"
    assert body["command"] == "мне 25 лет а брату -3"
    assert body["type"] == "SimpleUtterance"
    assert body["nlu"]["tokens"] == ["мне", "25", "лет", "а", "брату", "-3"]
    assert body["nlu"]["entities"] == [
        {"type": "YANDEX.NUMBER", "tokens": {"start": 1, "end": 2}, "value": 25},
        {"type": "YANDEX.NUMBER", "tokens": {"start": 5, "end": 6}, "value": -3},
    ]
    seen = Request(request)
    assert seen.numbers == [25, -3]
    assert seen.has_lemmas("брат")
    assert seen.matches(r"мне \d+ лет а брату -\d")


def test_the_session_the_meta_and_the_pseudonyms():
    first = validate_request(build(alice_requests.greeting_body(), message_id=0))
    later = validate_request(build(alice_requests.utterance_body("да"), message_id=4))
    assert first["session"]["new"] is True
    assert later["session"]["new"] is False
    assert first["session"]["message_id"] == 0
    assert later["session"]["message_id"] == 4
    assert first["session"]["session_id"] == later["session"]["session_id"]
    assert len(first["session"]["session_id"]) <= 64
    assert first["request"]["command"] == ""
    assert first["request"]["original_utterance"] == ""
    assert first["meta"]["timezone"] == "Asia/Yekaterinburg"
    assert first["meta"]["interfaces"] == {"screen": {}}
    session = first["session"]
    ids = [
        session["user_id"],
        session["user"]["user_id"],
        session["application"]["application_id"],
    ]
    for pseudonym in ids:
        assert len(pseudonym) == 64
        assert pseudonym != "7"
        assert pseudonym.isalnum()
    # Stable for the same user and skill, different for another user.
    assert build(alice_requests.greeting_body())["session"]["user"] == session["user"]
    other = build(alice_requests.greeting_body(), user_id=8)["session"]["user"]
    assert other != session["user"]


def test_the_session_id_changes_with_the_session_and_the_thread():
    ids = {alice_requests.session_id(thread, seq) for thread in (1, 2) for seq in (1, 2)}
    assert len(ids) == 4


def test_a_button_press_carries_the_stored_payload():
    request = validate_request(
        build(alice_requests.button_body("Люблю собак", {"answer": "dogs"}))
    )
    body = request["request"]
    assert body["type"] == "ButtonPressed"
    assert body["payload"] == {"answer": "dogs"}
    assert "command" not in body
    assert Request(request).command == "люблю собак"


def test_a_long_message_is_cut_to_the_protocols_limit():
    request = validate_request(build(alice_requests.utterance_body("слово " * 1000)))
    assert len(request["request"]["original_utterance"]) == 1024


def test_states_go_back_as_dialogs_sends_them():
    states = alice_requests.states_after(
        {"user": {"a": 1, "b": 2}},
        {"session_state": {"step": 3}, "user_state_update": {"a": None, "c": 4}},
    )
    assert states == {"session": {"step": 3}, "user": {"b": 2, "c": 4}}
    again = validate_request(build(alice_requests.utterance_body("x"), states=states))
    assert again["state"] == {"session": {"step": 3}, "user": {"b": 2, "c": 4}, "application": {}}
    # A new session starts without the old session's state.
    new = build(alice_requests.greeting_body(), message_id=0, states=states)
    assert new["state"]["session"] == {}


def test_the_shipped_script_answers_the_built_requests_within_the_protocol():
    skill = acquaintance.using(RecordingMemoryStore())
    said = ["", "Саша", "25", "Люблю собак"]
    for number, text in enumerate(said):
        answer = skill.respond(
            validate_request(build(alice_requests.utterance_body(text), message_id=number))
        )
        check_answer(answer)
    assert answer["response"]["end_session"] is True
    assert "щенка" in answer["response"]["text"]


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"response": {"text": "hi"}},  # no version
        {"version": "1.0", "response": "hi"},
        {"version": "1.0", "response": {"end_session": False}},  # no text
    ],
)
def test_what_is_no_answer(data):
    assert answers.valid_answer(data) is None


def test_an_outside_answer_is_fitted_as_the_engine_fits_its_own():
    answer = answers.valid_answer(
        {
            "version": "1.0",
            "response": {
                "text": "x" * 2000,
                "buttons": [{"title": "ok"}, {"no": "title"}],
                "card": {"type": "Unknown"},
            },
        }
    )
    text, attachments = answers.chat_message(answer)
    assert len(text) == 1024
    assert attachments == {"buttons": [{"title": "ok", "hide": False}], "end_session": False}


def test_image_ids_and_links_are_checked():
    assert answers.image_url("../../evil") is None
    assert answers.image_url(None) is None
    _, attachments = answers.chat_message(
        {
            "response": {
                "text": "t",
                "buttons": [{"title": "a", "url": "javascript:alert(1)"}],
            }
        }
    )
    assert attachments["buttons"] == [{"title": "a", "hide": False}]
