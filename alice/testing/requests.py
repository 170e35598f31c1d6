"""
Build protocol requests as Yandex Dialogs sends them, for tests and tools.

    build_request(utterance("Саша"), session_id="s", message_id=1)
    build_request(event(RequestType.SHOW_PULL), session_id="s", message_id=2, new=True)
"""

from typing import Any

from alice.engine.request_types import RequestType
from alice.engine.utterance import number_entities, tokens_of

__all__ = [
    "DEFAULT_META",
    "build_request",
    "button_pressed",
    "event",
    "utterance",
]

# A phone's Yandex app: a screen, account linking, the audio player.
DEFAULT_META: dict[str, Any] = {
    "locale": "ru-RU",
    "timezone": "Europe/Moscow",
    "client_id": "ru.yandex.searchplugin/7.16 (none none; android 4.4.2)",
    "interfaces": {"screen": {}, "account_linking": {}, "audio_player": {}},
}


def utterance(
    text: str,
    *,
    entities: list[dict[str, Any]] | None = None,
    intents: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Return the ``request`` of a SimpleUtterance: *text* as ``command`` and
    ``original_utterance`` (as typed; Alice would also lower-case it and drop punctuation),
    its words as NLU tokens, numbers as YANDEX.NUMBER entities unless *entities* is given,
    and *intents* (``{"order": {"slots": {...}}}``, ``{"YANDEX.CONFIRM": {"slots": {}}}``).
    """
    tokens = tokens_of(text)
    if entities is None:
        entities = number_entities(tokens)
    return {
        "command": text,
        "original_utterance": text,
        "type": RequestType.SIMPLE_UTTERANCE,
        "nlu": {"tokens": tokens, "entities": entities, "intents": intents or {}},
    }


def button_pressed(title: str, payload: Any) -> dict[str, Any]:
    """Return the ``request`` of a tapped button with *payload*: ButtonPressed, no command."""
    return {
        "type": RequestType.BUTTON_PRESSED,
        "payload": payload,
        "nlu": {"tokens": tokens_of(title), "entities": [], "intents": {}},
    }


def event(event_type: str, **fields: Any) -> dict[str, Any]:
    """Return the ``request`` of an event of *event_type* (a RequestType value) with
    *fields* (e.g. ``payload=`` for a Purchase.Confirmation)."""
    return {"type": event_type, **fields}


def build_request(
    body: dict[str, Any],
    *,
    session_id: str,
    message_id: int,
    new: bool | None = None,
    application_id: str = "TEST-APPLICATION",
    user_id: str | None = None,
    access_token: str | None = None,
    location: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    skill_id: str = "test-skill",
) -> dict[str, Any]:
    """
    Return a whole protocol request around *body* (the ``request`` object).

    *new* defaults to ``message_id == 0``. *user_id* is the Yandex account (``session.user``,
    present only for a signed-in user); *access_token* a linked account's token (it implies
    a user). *state* has the parts ``session``, ``user``, ``application``.
    """
    session: dict[str, Any] = {
        "message_id": message_id,
        "session_id": session_id,
        "skill_id": skill_id,
        "user_id": application_id,
        "application": {"application_id": application_id},
        "new": message_id == 0 if new is None else new,
    }
    if user_id is not None or access_token is not None:
        user: dict[str, Any] = {"user_id": user_id or f"USER-{application_id}"}
        if access_token is not None:
            user["access_token"] = access_token
        session["user"] = user
    if location is not None:
        session["location"] = location
    parts = state or {}
    return {
        "meta": DEFAULT_META if meta is None else meta,
        "request": body,
        "session": session,
        "state": {key: parts.get(key) or {} for key in ("session", "user", "application")},
        "version": "1.0",
    }
