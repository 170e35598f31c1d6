"""What the webhook refuses before any store sees it: unencodable text, overlong utterances."""

import json
from collections.abc import Callable
from typing import Any

import pytest

from alice.engine import ProtocolError, validate_request
from alice.engine.protocol import MAX_UTTERANCE
from alice.scripts import acquaintance

from .conftest import stored_sessions

LONE = "\ud800"  # a high surrogate with no low one after it
NOT_A_REQUEST = "the body is not an Alice protocol request"


def put(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set data[path[0]][path[1]]... to *value*."""
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def encoded(data: dict[str, Any]) -> bytes:
    """Return *data* as Alice's JSON: non-ASCII escaped, a lone surrogate as \\ud800."""
    return json.dumps(data).encode()


def as_ping(data: dict[str, Any]) -> None:
    data["request"].update(command="", original_utterance="ping")


# (the field as the error names it, where it is, how the request is made first)
SURROGATE_FIELDS: list[tuple[str, tuple[Any, ...], Callable[[dict[str, Any]], None] | None]] = [
    ("request.command", ("request", "command"), None),
    ("request.original_utterance", ("request", "original_utterance"), None),
    ("version", ("version",), as_ping),
    ("session.session_id", ("session", "session_id"), None),
    ("session.user_id", ("session", "user_id"), None),
    ("session.skill_id", ("session", "skill_id"), None),
    ("request.payload.answer", ("request", "payload"), None),
    (
        "request.nlu.entities[0].value.first_name",
        ("request", "nlu", "entities", 0, "value", "first_name"),
        None,
    ),
    ("request.nlu.tokens[0]", ("request", "nlu", "tokens", 0), None),
    ("state.user.name", ("state", "user", "name"), None),
    ("meta.client_id", ("meta", "client_id"), None),
]


@pytest.mark.parametrize(
    ("field", "path", "prepare"), SURROGATE_FIELDS, ids=[field for field, *_ in SURROGATE_FIELDS]
)
def test_a_lone_surrogate_in_any_field_is_refused_with_400(
    backend, webhook, fixture_json, field, path, prepare
):
    """A lone surrogate in any string of the request is refused with 400 and the JSON error
    naming the field, through either adapter, and nothing is stored for the session."""
    acquaintance.skill.store = backend()
    data = fixture_json("02")
    if prepare is not None:
        prepare(data)
    value = {"answer": f"dogs{LONE}"} if field == "request.payload.answer" else f"маша{LONE}"
    put(data, path, value)
    status, answer = webhook("/alice/", encoded(data))
    assert (status, answer) == (
        400,
        {"error": NOT_A_REQUEST, "details": [f"{field} must not hold a lone surrogate"]},
    )
    assert stored_sessions(acquaintance.skill.store) == 0


def test_a_lone_surrogate_in_a_key_is_refused_with_400(backend, webhook, fixture_json):
    """A lone surrogate in an object's key is refused too, the key shown escaped."""
    acquaintance.skill.store = backend()
    data = fixture_json("02")
    data["state"]["user"] = {f"имя{LONE}": "маша"}
    status, answer = webhook("/alice/", encoded(data))
    assert (status, answer) == (
        400,
        {
            "error": NOT_A_REQUEST,
            "details": ["the key state.user.имя\\ud800 must not hold a lone surrogate"],
        },
    )
    assert stored_sessions(acquaintance.skill.store) == 0


def test_a_nul_in_the_session_id_is_refused_with_400(backend, webhook, fixture_json):
    """A NUL in the session id, which the database store keeps as it is, is refused with 400
    on every store."""
    acquaintance.skill.store = backend()
    data = fixture_json("01")
    data["session"]["session_id"] += "\x00"
    status, answer = webhook("/alice/", encoded(data))
    assert (status, answer) == (
        400,
        {"error": NOT_A_REQUEST, "details": ["session.session_id must not hold a NUL character"]},
    )
    assert stored_sessions(acquaintance.skill.store) == 0


def test_a_surrogate_pair_is_a_character_like_any_other(webhook, fixture_json):
    """An emoji sent as an escaped surrogate pair, and a literal backslash-u text, are
    answered: only a lone surrogate is refused."""
    data = fixture_json("02")
    data["request"]["command"] = data["request"]["original_utterance"] = "маша \U0001f431"
    data["state"]["user"]["note"] = "\\ud800 is how JSON escapes it"
    body = encoded(data)
    assert b"\\ud83d\\udc31" in body
    status, answer = webhook("/alice/", body)
    assert status == 200
    assert answer["response"]["text"] == "Добрый день! Как вас зовут?"


def test_a_lone_surrogate_deep_in_the_body_is_refused_not_a_500(webhook, fixture_json):
    """A surrogate nested as deep as the JSON parser allows is found without recursion."""
    data = fixture_json("02")
    deep: Any = LONE
    for _ in range(500):
        deep = [deep]
    data["state"]["user"]["deep"] = deep
    status, answer = webhook("/alice/", encoded(data))
    assert status == 400
    path = "state.user.deep" + "[0]" * 500
    assert answer["details"] == [f"{path} must not hold a lone surrogate"]


def test_only_a_few_fields_are_named():
    """A body full of lone surrogates gets an error of bounded size."""
    data = {"version": "1.0", "session": {}, "request": {}, "state": {"s": [LONE] * 10_000}}
    with pytest.raises(ProtocolError) as raised:
        validate_request(data)
    assert len(raised.value.errors) == 10


def test_the_json_text_spares_the_search_only_when_it_cannot_hold_a_surrogate(fixture_json):
    """Given the JSON text, a surrogate is still found when the text escapes one."""
    data = fixture_json("02")
    data["request"]["command"] = f"маша{LONE}"
    text = json.dumps(data)
    with pytest.raises(ProtocolError) as raised:
        validate_request(json.loads(text), source=text)
    assert raised.value.errors == ["request.command must not hold a lone surrogate"]


@pytest.mark.parametrize("field", ["command", "original_utterance"])
def test_an_utterance_over_the_protocols_limit_is_refused_with_400(webhook, fixture_json, field):
    """command and original_utterance take up to 1024 characters; one more is a 400 that
    says so, and nothing is stored."""
    data = fixture_json("02")
    data["request"][field] = "я" * MAX_UTTERANCE
    assert webhook("/alice/", encoded(data))[0] == 200
    data["request"][field] += "я"
    data["session"]["session_id"] += "-long"
    status, answer = webhook("/alice/", encoded(data))
    assert (status, answer) == (
        400,
        {
            "error": NOT_A_REQUEST,
            "details": [f"request.{field} must have at most {MAX_UTTERANCE} characters"],
        },
    )
    assert acquaintance.skill.store.get(data["session"]["session_id"]) is None


def test_tokens_longer_than_an_utterance_are_refused_with_400(webhook, fixture_json):
    """The NLU tokens, of which a ButtonPressed request's command is made, are bounded as
    the utterance is."""
    data = fixture_json("05")
    data["request"]["nlu"]["tokens"] = ["собак"] * 200
    status, answer = webhook("/alice/", encoded(data))
    assert (status, answer) == (
        400,
        {
            "error": NOT_A_REQUEST,
            "details": [f"request.nlu.tokens must have at most {MAX_UTTERANCE} characters in all"],
        },
    )
