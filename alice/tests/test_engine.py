"""Regression tests of the defects of alice_scripts."""

import json
import logging
import uuid

import pytest

from alice.engine import MemorySessionStore, ProtocolError
from alice.scripts import acquaintance
from alice.testing import DialogClient
from alice.tests import skills
from alice.tests.concurrency import run_together


def request_for(
    session_id: str, message_id: int, command: str = "", *, new: bool = False, **session
) -> dict:
    return {
        "meta": {"locale": "ru-RU", "timezone": "Europe/Moscow", "interfaces": {}},
        "request": {"command": command, "original_utterance": command, "type": "SimpleUtterance"},
        "session": {
            "session_id": session_id,
            "message_id": message_id,
            "new": new,
            "user_id": "U",
            **session,
        },
        "version": "1.0",
    }


def text_of(response: dict) -> str:
    return response["response"]["text"]


# Item 2 (health checks) and the ping fixture.


def test_ping_is_answered_at_once_and_starts_no_dialog():
    """A health check gets an answer without running the script or keeping a session."""
    client = DialogClient(skills.counter)
    reply = client.ping()
    assert reply.text == "pong"
    assert not reply.end_session
    assert len(skills.counter.store) == 0
    assert client.start().text == "1"


def test_ping_inside_a_known_session_does_not_advance_it():
    """A ping carrying a live session's id leaves that dialog where it was."""
    store = skills.counter.store
    skills.counter.handle(request_for("s1", 0, new=True))
    ping = request_for("s1", 1)
    ping["request"]["original_utterance"] = "ping"
    assert text_of(skills.counter.handle(ping)) == "pong"
    assert store.get("s1").turns == 1
    assert text_of(skills.counter.handle(request_for("s1", 1))) == "2"


# Item 8: session.new.


def test_new_session_restarts_the_script_for_a_known_session_id():
    """`session.new` true starts the script over even when the id has a live dialog."""
    client = DialogClient(skills.counter)
    assert [r.text for r in client.dialog("a", "b", "c")] == ["1", "2", "3", "4"]
    assert client.start().text == "1"
    assert client.say("d").text == "2"


def test_unknown_session_starts_the_script():
    """A request of a session never seen (or forgotten) starts the script."""
    assert text_of(skills.counter.handle(request_for("never-seen", 7, "привет"))) == "1"


# Item 5: retries.


def test_retry_gets_the_same_response_and_does_not_advance():
    """A request repeated with the same session and message ids gets the same answer again."""
    session_id = str(uuid.uuid4())
    first = acquaintance.skill.handle(request_for(session_id, 0, new=True))
    second = acquaintance.skill.handle(request_for(session_id, 1, "Саша"))
    retried = acquaintance.skill.handle(request_for(session_id, 1, "Саша"))
    assert retried == second
    assert text_of(first) == "Добрый день! Как вас зовут?"
    assert text_of(retried) == "Сколько вам лет?"
    assert text_of(acquaintance.skill.handle(request_for(session_id, 2, "25"))).startswith(
        "Вы любите"
    )


def test_retry_of_the_last_request_gets_the_goodbye_again():
    """After the closing response, a retry of that request gets the closing response again."""
    client = DialogClient("acquaintance")
    client.dialog("Саша", "25")
    last = client.say("кошки")
    assert last.end_session
    repeated = client.send(request_for(client.session_id, client.message_id, "кошки"))
    assert repeated == last.raw


def test_retry_does_not_rerun_a_random_choice():
    """The retried answer is the stored one, not a new random variant."""
    client = DialogClient("guess_number")
    client.start()
    first = client.say("да")
    for _ in range(20):
        assert client.send(request_for(client.session_id, client.message_id, "да")) == first.raw


# Item 6: two requests of one session at once.


def test_two_requests_of_one_session_at_once_are_serialised():
    """Two requests at once run one after the other: no "generator already executing"."""
    skill = skills.slow_counter
    skill.handle(request_for("s", 0, new=True))
    results = run_together(
        lambda: skill.handle(request_for("s", 1, "a")),
        lambda: skill.handle(request_for("s", 2, "b")),
    )
    assert all(isinstance(result, dict) for result in results), results
    assert sorted(text_of(result) for result in results) == ["2", "3"]
    assert text_of(skill.handle(request_for("s", 3, "c"))) == "4"


def test_a_retry_racing_its_original_is_answered_once():
    """The same request twice at once advances the dialog once; both get the same answer."""
    skill = skills.slow_counter
    skill.handle(request_for("s", 0, new=True))
    results = run_together(*[lambda: skill.handle(request_for("s", 1, "a"))] * 3)
    assert [text_of(result) for result in results] == ["2", "2", "2"]
    assert text_of(skill.handle(request_for("s", 2, "b"))) == "3"


def test_many_sessions_at_once_each_see_their_own_request():
    """Threads serving different sessions never see each other's request."""
    skill = skills.echo
    calls = [
        lambda i=i: skill.handle(request_for(f"s{i}", 0, f"слово{i}", new=True)) for i in range(8)
    ]
    results = run_together(*calls)
    assert [text_of(result) for result in results] == [f"слово{i}|слово{i}" for i in range(8)]


def test_a_request_waiting_too_long_for_its_session_is_asked_to_wait(caplog):
    """Past the lock timeout the request gets a protocol answer, and the dialog is intact."""
    skill = skills.impatient
    skill.handle(request_for("s", 0, new=True))
    results = run_together(
        lambda: skill.handle(request_for("s", 1, "a")),
        lambda: skill.handle(request_for("s", 2, "b")),
    )
    assert sorted(text_of(result) for result in results) == ["2", skill.busy_text]
    assert all(result["response"]["end_session"] is False for result in results)
    assert "busy" in caplog.text


# Item 3: a script that ends without end_session.


def test_script_ending_without_end_session_gets_a_closing_response(caplog):
    """A script that returns gets a proper goodbye with end_session true, then starts over."""
    client = DialogClient(skills.unfinished)
    assert [r.text for r in client.dialog("a")] == ["Привет!", "Я всё сказала."]
    with caplog.at_level(logging.WARNING, logger="alice.engine"):
        reply = client.say("b")
    assert reply.text == skills.unfinished.closing_text
    assert reply.end_session is True
    assert "without end_session" in caplog.text
    assert client.say("c").text == "Привет!"


# Item 4: an exception in a script.


def test_script_exception_is_logged_and_answered_with_an_apology(caplog):
    """A failing script is logged with its traceback; the user gets a protocol apology."""
    client = DialogClient(skills.failing)
    client.start()
    with caplog.at_level(logging.ERROR, logger="alice.engine"):
        reply = client.say("0")
    assert reply.text == skills.failing.apology_text
    assert reply.end_session is True
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info[0] is ZeroDivisionError
    assert "ZeroDivisionError" in caplog.text
    assert "Traceback" in caplog.text


def test_failed_session_is_dropped_and_starts_over():
    """After a failure the dialog is gone: the next request starts the script again."""
    client = DialogClient(skills.failing)
    client.dialog("0")
    assert client.say("4").text == "Назовите число"
    assert client.say("4").text == "Обратное: 0.25"


def test_yielding_something_else_than_say_is_a_script_error(caplog):
    """A script yielding a string instead of say(...) gets the apology, and is logged."""
    reply = DialogClient(skills.yields_text).start()
    assert reply.text == skills.yields_text.apology_text
    assert reply.end_session
    assert "not say(...)" in caplog.text


# Item 7: ButtonPressed without a command.


def test_button_pressed_without_command_works():
    """A ButtonPressed request has no command: the script reads its payload and title."""
    client = DialogClient("pet_gift")
    client.dialog("Саша", "мне 25 лет")
    reply = client.press("Люблю собак")
    assert reply.end_session
    assert reply.text.endswith("я могу подарить щенка!")


def test_button_pressed_is_understood_by_lemma_loops():
    """A tapped payload button reads as its title for has_lemmas (the README script)."""
    session_id = str(uuid.uuid4())
    skill = acquaintance.skill
    skill.handle(request_for(session_id, 0, new=True))
    skill.handle(request_for(session_id, 1, "Саша"))
    skill.handle(request_for(session_id, 2, "25"))
    pressed = request_for(session_id, 3)
    pressed["request"] = {
        "type": "ButtonPressed",
        "payload": {"x": 1},
        "nlu": {"tokens": ["люблю", "собак"], "entities": []},
    }
    assert text_of(skill.handle(pressed)).endswith("я могу подарить щенка!")


# Item 9: the access token.


def test_access_token_and_session_are_never_echoed():
    """The response holds no `session`, so a user's access_token never goes back."""
    response = acquaintance.skill.handle(
        request_for(
            str(uuid.uuid4()),
            0,
            new=True,
            user={"user_id": "A", "access_token": "secret-token-123"},
        )
    )
    assert set(response) == {"response", "version"}
    assert "secret-token-123" not in json.dumps(response)


# Item 10: the response is fitted into the protocol limits.


def test_oversized_response_is_fitted_with_warnings(caplog):
    """Text, tts, titles, urls and payloads over the limits are fitted, each with a warning."""
    client = DialogClient(skills.oversized)
    with caplog.at_level(logging.WARNING, logger="alice.engine"):
        response = client.start().raw["response"]
    assert len(response["text"]) == 1024
    assert response["text"].endswith("…")
    assert len(response["tts"]) == 1024
    first, second, third = response["buttons"]
    assert len(first["title"]) == 64
    assert "url" not in first
    assert second == {"title": "Ок"}
    assert third == {"title": "Норма", "payload": {"step": 1}, "url": "https://example.com/"}
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 6


def test_response_without_text_gets_a_placeholder():
    """No text and no tts: a placeholder text is sent; tts alone allows an empty text."""
    client = DialogClient(skills.oversized)
    client.start()
    assert client.say("a").text == "…"
    only_voice = client.say("b")
    assert only_voice.text == ""
    assert only_voice.tts == "Только голосом"
    last = client.say("c")
    assert last.text == "…"
    assert last.end_session


# Item 2: eviction.


def test_sessions_beyond_the_limit_are_evicted_least_recently_used_first():
    """Past max_sessions, the sessions idle longest are dropped and start over."""
    skill = skills.counter
    skill.store = MemorySessionStore(max_sessions=3)
    for name in "abcd":
        skill.handle(request_for(name, 0, new=True))
    skill.handle(request_for("b", 1))  # b is now the most recently used
    skill.handle(request_for("e", 0, new=True))
    assert len(skill.store) == 3
    assert text_of(skill.handle(request_for("b", 2))) == "3"
    assert text_of(skill.handle(request_for("a", 1))) == "1"  # evicted: starts over


def test_idle_sessions_are_evicted_after_the_timeout():
    """A session idle longer than idle_timeout is dropped, and memory with it."""
    now = [1000.0]
    skill = skills.counter
    skill.store = MemorySessionStore(idle_timeout=60, clock=lambda: now[0])
    skill.handle(request_for("old", 0, new=True))
    now[0] += 30
    skill.handle(request_for("recent", 0, new=True))
    now[0] += 45  # old: idle 75 s, recent: 45 s
    skill.handle(request_for("new", 0, new=True))
    assert len(skill.store) == 2
    assert text_of(skill.handle(request_for("recent", 1))) == "2"
    assert text_of(skill.handle(request_for("old", 1))) == "1"


def test_abandoned_sessions_and_pings_keep_memory_bounded():
    """Thousands of abandoned sessions and pings leave at most max_sessions behind."""
    skill = skills.counter
    skill.store = MemorySessionStore(max_sessions=100)
    for i in range(3000):
        skill.handle(request_for(f"abandoned-{i}", 0, new=True))
        ping = request_for(f"ping-{i}", 0, new=True)
        ping["request"]["original_utterance"] = "ping"
        skill.handle(ping)
    assert len(skill.store) == 100


# The protocol.


@pytest.mark.parametrize(
    "broken",
    [
        [],
        "text",
        {"request": {}, "session": {"session_id": "s", "message_id": 0, "new": True}},
        {"version": "1.0", "session": {"session_id": "s", "message_id": 0, "new": True}},
        {"version": "1.0", "request": {}},
        {
            "version": 1.0,
            "request": {},
            "session": {"session_id": "s", "message_id": 0, "new": True},
        },
        {
            "version": "1.0",
            "request": [],
            "session": {"session_id": "s", "message_id": 0, "new": True},
        },
        {
            "version": "1.0",
            "request": {},
            "session": {"session_id": "", "message_id": 0, "new": True},
        },
        {
            "version": "1.0",
            "request": {},
            "session": {"session_id": "s" * 65, "message_id": 0, "new": True},
        },
        {
            "version": "1.0",
            "request": {},
            "session": {"session_id": "s", "message_id": "0", "new": True},
        },
        {
            "version": "1.0",
            "request": {},
            "session": {"session_id": "s", "message_id": True, "new": True},
        },
        {
            "version": "1.0",
            "request": {},
            "session": {"session_id": "s", "message_id": -1, "new": True},
        },
        {
            "version": "1.0",
            "request": {},
            "session": {"session_id": "s", "message_id": 0, "new": "true"},
        },
        {
            "version": "1.0",
            "request": {"command": 5},
            "session": {"session_id": "s", "message_id": 0, "new": True},
        },
        {
            "version": "1.0",
            "request": {"nlu": {"entities": {}}},
            "session": {"session_id": "s", "message_id": 0, "new": True},
        },
        {
            "version": "1.0",
            "request": {"nlu": {"tokens": ["a", 1]}},
            "session": {"session_id": "s", "message_id": 0, "new": True},
        },
        {
            "version": "1.0",
            "request": {"nlu": {"entities": ["x"]}},
            "session": {"session_id": "s", "message_id": 0, "new": True},
        },
    ],
)
def test_a_body_that_is_not_a_protocol_request_is_refused(broken):
    """Missing or mistyped fields raise ProtocolError, which says what is wrong."""
    with pytest.raises(ProtocolError) as error:
        skills.counter.handle(broken)
    assert error.value.errors
    assert len(skills.counter.store) == 0


def test_unknown_extra_fields_are_let_through():
    """Fields the engine does not know are accepted."""
    request = request_for("s", 0, new=True, future_field={"x": 1})
    request["request"]["markup"] = {"dangerous_context": True}
    request["something_new"] = [1, 2]
    assert text_of(skills.counter.handle(request)) == "1"
