"""
The Alice protocol requests a chat conversation sends its skill, built as Yandex Dialogs
builds them (docs/skills-in-chat.md lists what differs: no speech recognition, no NLU
entities but YANDEX.NUMBER, no intents).

Every identifier is a pseudonym: an HMAC keyed by SECRET_KEY of what it stands for, so a
skill can tell users and sessions apart and recognise them again, but learns no database
id or username, and two skills cannot match their users.
"""

from typing import Any

from django.utils.crypto import salted_hmac

from alice.engine.protocol import MAX_UTTERANCE
from alice.engine.request_types import RequestType
from alice.engine.utterance import command_of, tokens_of, utterance_nlu

# What the skill learns of the "device": a chat page, a screen, nothing else.
CLIENT_ID = "privatemessages.skillchat/1.0 (web chat)"
LOCALE = "ru-RU"


def pseudonym(kind: str, *parts: object) -> str:
    """A stable, opaque 64-hex-digit id of *parts* (Dialogs' ids are 64 hex digits)."""
    value = ":".join(str(part) for part in parts)
    return salted_hmac(f"skillchat.{kind}", value, algorithm="sha256").hexdigest().upper()


def session_id(thread_id: int, session_seq: int) -> str:
    """The session_id of the thread's *session_seq*-th Alice session (a UUID's shape)."""
    digest = pseudonym("session", thread_id, session_seq).lower()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def skill_id(partner_id: int) -> str:
    digest = pseudonym("skill", partner_id).lower()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def utterance_body(text: str) -> dict[str, Any]:
    """The ``request`` of a typed message: ``command`` normalised, the text as typed."""
    text = text[:MAX_UTTERANCE]
    return {
        "command": command_of(text),
        "original_utterance": text,
        "type": RequestType.SIMPLE_UTTERANCE,
        "markup": {"dangerous_context": False},
        "nlu": utterance_nlu(text),
    }


def button_body(title: str, payload: Any) -> dict[str, Any]:
    """The ``request`` of a tapped button with a payload: ButtonPressed, its title's words."""
    return {
        "type": RequestType.BUTTON_PRESSED,
        "payload": payload,
        "nlu": {"tokens": tokens_of(title[:MAX_UTTERANCE]), "entities": [], "intents": {}},
    }


def greeting_body() -> dict[str, Any]:
    """The ``request`` that opens a session with nothing said (a restart)."""
    return utterance_body("")


def build_request(
    body: dict[str, Any],
    *,
    partner_id: int,
    user_id: int,
    thread_id: int,
    session_seq: int,
    message_id: int,
    time_zone: str,
    states: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Return the whole request around *body* for the thread's session *session_seq*:
    ``session.new`` on its first request (*message_id* 0), the user's pseudonyms (per
    skill), *time_zone* and a screen in ``meta``, the states the skill last returned.
    """
    application_id = pseudonym("application", partner_id, user_id)
    states = states or {}
    return {
        "meta": {
            "locale": LOCALE,
            "timezone": time_zone,
            "client_id": CLIENT_ID,
            "interfaces": {"screen": {}},
        },
        "request": body,
        "session": {
            "message_id": message_id,
            "session_id": session_id(thread_id, session_seq),
            "skill_id": skill_id(partner_id),
            "user_id": application_id,
            "user": {"user_id": pseudonym("user", partner_id, user_id)},
            "application": {"application_id": application_id},
            "new": message_id == 0,
        },
        "state": {
            # The session state lives as long as its session.
            "session": (states.get("session") or {}) if message_id else {},
            "user": states.get("user") or {},
            "application": states.get("application") or {},
        },
        "version": "1.0",
    }


def states_after(states: dict[str, Any], answer: dict[str, Any]) -> dict:
    """
    Return the states to send with the next request, after *answer*: its session_state,
    user_state_update merged (a null value deletes a key), application_state.
    """
    result = {
        "session": dict(states.get("session") or {}),
        "user": dict(states.get("user") or {}),
        "application": dict(states.get("application") or {}),
    }
    if isinstance(answer.get("session_state"), dict):
        result["session"] = answer["session_state"]
    update = answer.get("user_state_update")
    if isinstance(update, dict):
        for key, value in update.items():
            if value is None:
                result["user"].pop(key, None)
            else:
                result["user"][key] = value
    if isinstance(answer.get("application_state"), dict):
        result["application"] = answer["application_state"]
    return {key: value for key, value in result.items() if value}
