"""
The protocol's answer, as one JSON Schema with its limits, and the check of an answer
against it (and against the limits JSON Schema cannot say: sizes in bytes).

Every answer DialogClient receives is checked (so a skill's own tests check theirs), and
alice/tests/test_conformance.py runs the shipped scripts and the docs' examples through it.
"""

import json
from typing import Any

from alice.engine.cards import CARD_TYPES
from alice.engine.directives import DIRECTIVES
from alice.engine.limits import (
    MAX_BUTTON_TITLE,
    MAX_CARD_DESCRIPTION,
    MAX_CARD_FOOTER,
    MAX_CARD_HEADER,
    MAX_CARD_TITLE,
    MAX_GALLERY_ITEMS,
    MAX_ITEMS_LIST,
    MAX_PAYLOAD_BYTES,
    MAX_STATE_BYTES,
    MAX_TEXT,
    MAX_TTS,
    MAX_URL_BYTES,
)

__all__ = ["ANSWER_SCHEMA", "ConformanceError", "answer_errors", "check_answer"]


def _string(limit: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit}


_CARD_BUTTON = {
    "type": "object",
    "properties": {"text": _string(MAX_BUTTON_TITLE), "url": {"type": "string"}, "payload": {}},
    "additionalProperties": False,
}
_IMAGE = {
    "type": "object",
    "required": ["image_id"],
    "properties": {
        "image_id": {"type": "string", "minLength": 1},
        "title": _string(MAX_CARD_TITLE),
        "description": _string(MAX_CARD_DESCRIPTION),
        "button": _CARD_BUTTON,
    },
    "additionalProperties": False,
}
_GALLERY_IMAGE = {**_IMAGE, "properties": {**_IMAGE["properties"]}}
del _GALLERY_IMAGE["properties"]["description"]


def _card(kind: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", *(["items"] if "items" in properties else ["image_id"])],
        "properties": {"type": {"const": kind}, **properties},
        "additionalProperties": False,
    }


_CARD = {
    "oneOf": [
        _card("BigImage", **_IMAGE["properties"]),
        _card(
            "ItemsList",
            header={
                "type": "object",
                "required": ["text"],
                "properties": {"text": _string(MAX_CARD_HEADER)},
                "additionalProperties": False,
            },
            items={"type": "array", "items": _IMAGE, "minItems": 1, "maxItems": MAX_ITEMS_LIST},
            footer={
                "type": "object",
                "required": ["text"],
                "properties": {"text": _string(MAX_CARD_FOOTER), "button": _CARD_BUTTON},
                "additionalProperties": False,
            },
        ),
        _card(
            "ImageGallery",
            items={
                "type": "array",
                "items": _GALLERY_IMAGE,
                "minItems": 1,
                "maxItems": MAX_GALLERY_ITEMS,
            },
        ),
    ]
}
assert {variant["properties"]["type"]["const"] for variant in _CARD["oneOf"]} == set(CARD_TYPES)

_AUDIO_PLAYER = {
    "oneOf": [
        {
            "type": "object",
            "required": ["action", "item"],
            "properties": {
                "action": {"const": "Play"},
                "item": {
                    "type": "object",
                    "required": ["stream"],
                    "properties": {
                        "stream": {
                            "type": "object",
                            "required": ["url", "offset_ms", "token"],
                            "properties": {
                                "url": {"type": "string"},
                                "offset_ms": {"type": "integer", "minimum": 0},
                                "token": {"type": "string"},
                            },
                        },
                        "metadata": {"type": "object"},
                    },
                },
            },
        },
        {"type": "object", "required": ["action"], "properties": {"action": {"const": "Stop"}}},
    ]
}

_STATE = {"type": "object"}

# The answer to any request: an utterance's needs a text (tested in answer_errors, since an
# AudioPlayer event's has none).
ANSWER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["response", "version"],
    "properties": {
        "version": {"const": "1.0"},
        "response": {
            "type": "object",
            "properties": {
                "text": _string(MAX_TEXT),
                "tts": _string(MAX_TTS),
                "end_session": {"type": "boolean"},
                "should_listen": {"type": "boolean"},
                "buttons": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["title"],
                        "properties": {
                            "title": _string(MAX_BUTTON_TITLE),
                            "url": {"type": "string"},
                            "payload": {},
                            "hide": {"type": "boolean"},
                        },
                        "additionalProperties": False,
                    },
                },
                "card": _CARD,
                "directives": {
                    "type": "object",
                    "properties": {
                        "audio_player": _AUDIO_PLAYER,
                        "start_account_linking": {"const": {}},
                        "request_geolocation": {"const": {}},
                    },
                    "additionalProperties": False,
                },
                "show_item_meta": {
                    "type": "object",
                    "required": ["content_id", "publication_date"],
                    "properties": {
                        "content_id": {"type": "string"},
                        "title": {"type": "string"},
                        "title_tts": {"type": "string"},
                        "publication_date": {"type": "string"},
                        "expiration_date": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "session_state": _STATE,
        "user_state_update": _STATE,
        "application_state": _STATE,
        "analytics": {
            "type": "object",
            "properties": {
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}, "value": {"type": "object"}},
                    },
                }
            },
        },
    },
    "additionalProperties": False,
}
assert set(
    ANSWER_SCHEMA["properties"]["response"]["properties"]["directives"]["properties"]
) == set(DIRECTIVES)


class ConformanceError(AssertionError):
    """An answer that Dialogs would refuse or ignore in part."""


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _byte_errors(answer: dict[str, Any]) -> list[str]:
    errors = []
    response = answer.get("response") or {}
    card = response.get("card") or {}
    buttons = [*response.get("buttons", ())]
    for part in (card, *(card.get("items") or ()), card.get("footer") or {}):
        if isinstance(part.get("button"), dict):
            buttons.append(part["button"])
    for button in buttons:
        if len(str(button.get("url", "")).encode()) > MAX_URL_BYTES:
            errors.append(f"a button url is over {MAX_URL_BYTES} bytes")
        if "payload" in button and _size(button["payload"]) > MAX_PAYLOAD_BYTES:
            errors.append(f"a button payload is over {MAX_PAYLOAD_BYTES} bytes")
    for key in ("session_state", "user_state_update", "application_state"):
        if key in answer and _size(answer[key]) > MAX_STATE_BYTES:
            errors.append(f"{key} is over {MAX_STATE_BYTES} bytes")
    return errors


def answer_errors(answer: Any, *, request_type: str = "SimpleUtterance") -> list[str]:
    """Return what makes *answer* not a protocol answer to a request of *request_type*."""
    import jsonschema  # a test tool's dependency: imported only when checking

    validator = jsonschema.Draft202012Validator(ANSWER_SCHEMA)
    errors = [
        f"{'.'.join(map(str, error.absolute_path)) or 'the answer'}: {error.message}"
        for error in validator.iter_errors(answer)
    ]
    if errors:
        return errors
    response = answer["response"]
    if not request_type.startswith("AudioPlayer."):
        if "text" not in response or "end_session" not in response:
            errors.append("response.text and response.end_session are required")
        elif not response["text"] and not response.get("tts"):
            errors.append("response.text may be empty only with a tts")
    return errors + _byte_errors(answer)


def check_answer(answer: Any, *, request_type: str = "SimpleUtterance") -> None:
    """Raise ConformanceError when *answer* is not a protocol answer."""
    errors = answer_errors(answer, request_type=request_type)
    if errors:
        raise ConformanceError("; ".join(errors))
