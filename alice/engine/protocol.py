"""The webhook protocol of Yandex Dialogs: checking a request's shape, building a response."""

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_UTTERANCE",
    "ProtocolError",
    "build_response",
    "compact_json",
    "validate_request",
]

MAX_SESSION_ID = 64
# The protocol's limit on what the user said: a script's work on a turn (its words, their
# lemmas), live and on every replay, grows with it.
MAX_UTTERANCE = 1024
# Details of an error name at most this many fields: the answer stays small.
MAX_DETAILS = 10

# A lone surrogate: no UTF-8 encoder (a store's, the response's) takes it. JSON gives a
# string one only through a \uXXXX escape of U+D800..U+DFFF (a valid pair decodes to the one
# character it stands for), so a JSON text without such an escape holds none.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

_KIND_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    bool: "a boolean",
}


# JSON as answers and records are written: compact, UTF-8 text as it is. One encoder for
# every call (json.dumps() with options builds a new one each time); encode() keeps no state.
compact_json: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":")
).encode


class ProtocolError(ValueError):
    """A body that is not a protocol request; ``errors`` says what is wrong."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _field(
    obj: dict[str, Any],
    key: str,
    kind: type,
    where: str,
    errors: list[str],
    *,
    required: bool = False,
) -> Any:
    """Return obj[key] if it has the right type, else None, recording what is wrong."""
    value = obj.get(key)
    if value is None:
        if required:
            errors.append(f"{where}{key} is required")
        return None
    # bool is a subclass of int, but `"new": 1` or `"message_id": true` are not the protocol.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        errors.append(f"{where}{key} must be {_KIND_NAMES[kind]}")
        return None
    return value


def _text(
    obj: dict[str, Any], key: str, where: str, errors: list[str], *, limit: int
) -> str | None:
    """Return obj[key] if it is a string of at most *limit* characters, as _field() does."""
    value = _field(obj, key, str, where, errors)
    if value is not None and len(value) > limit:
        errors.append(f"{where}{key} must have at most {limit} characters")
        return None
    return value


def _name(key: Any) -> str:
    """Return *key* as an error may show it: a lone surrogate as its escape."""
    return str(key).encode("utf-8", "backslashreplace").decode()


def _holds_lone_surrogate(data: Any) -> bool:
    """Return whether a string in *data*, keys included, holds a lone surrogate."""
    # Iterative: JSON may nest as deep as the parser allowed, deeper than Python recursion.
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value)  # the keys
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _lone_surrogates(data: Any) -> list[str]:
    """Return the paths of the strings in *data*, keys included, holding a lone surrogate."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack and len(found) < MAX_DETAILS:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                found.append(path or "the body")
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                child = f"{path}.{_name(key)}" if path else _name(key)
                if isinstance(key, str) and _SURROGATE.search(key):
                    found.append(f"the key {child}")
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return found


def validate_request(data: Any, *, source: str | None = None) -> dict[str, Any]:
    """
    Return *data* if it is a protocol request the engine can serve, else raise ProtocolError.

    Only what the engine relies on is checked; unknown extra fields are let through. No
    string may hold a lone surrogate (no store could keep it, no answer could carry it),
    nor the session id a NUL. *source*, the JSON text *data* was parsed from, spares the
    search of every string when the text has no escape that could give a surrogate.
    """
    if not isinstance(data, dict):
        raise ProtocolError(["the body must be a JSON object"])
    errors: list[str] = []
    if (source is None or _SURROGATE_ESCAPE.search(source)) and _holds_lone_surrogate(data):
        errors += [f"{path} must not hold a lone surrogate" for path in _lone_surrogates(data)]
    _field(data, "version", str, "", errors, required=True)
    _field(data, "meta", dict, "", errors)
    _field(data, "state", dict, "", errors)
    session = _field(data, "session", dict, "", errors, required=True)
    if session is not None:
        session_id = _field(session, "session_id", str, "session.", errors, required=True)
        if session_id is not None and not 0 < len(session_id) <= MAX_SESSION_ID:
            errors.append(f"session.session_id must have 1 to {MAX_SESSION_ID} characters")
        if session_id is not None and "\x00" in session_id:
            # The database store keeps the id as it is, and PostgreSQL text takes no NUL.
            errors.append("session.session_id must not hold a NUL character")
        message_id = _field(session, "message_id", int, "session.", errors, required=True)
        if message_id is not None and message_id < 0:
            errors.append("session.message_id must not be negative")
        _field(session, "new", bool, "session.", errors, required=True)
        _field(session, "user_id", str, "session.", errors)
        _field(session, "user", dict, "session.", errors)
        _field(session, "application", dict, "session.", errors)
    body = _field(data, "request", dict, "", errors, required=True)
    if body is not None:
        _field(body, "type", str, "request.", errors)
        _text(body, "command", "request.", errors, limit=MAX_UTTERANCE)
        _text(body, "original_utterance", "request.", errors, limit=MAX_UTTERANCE)
        nlu = _field(body, "nlu", dict, "request.", errors)
        if nlu is not None:
            tokens = _field(nlu, "tokens", list, "request.nlu.", errors)
            if tokens and not all(isinstance(token, str) for token in tokens):
                errors.append("request.nlu.tokens must hold strings")
            elif tokens and sum(map(len, tokens)) + len(tokens) - 1 > MAX_UTTERANCE:
                # The words of the utterance; a ButtonPressed request's command is made of them.
                errors.append(
                    f"request.nlu.tokens must have at most {MAX_UTTERANCE} characters in all"
                )
            entities = _field(nlu, "entities", list, "request.nlu.", errors)
            if entities and not all(isinstance(entity, dict) for entity in entities):
                errors.append("request.nlu.entities must hold objects")
    if errors:
        raise ProtocolError(errors[:MAX_DETAILS])
    return data


# The fields of an answer that go beside ``response``: Dialogs ignores them inside it.
TOP_LEVEL_FIELDS = ("session_state", "user_state_update", "application_state", "analytics")
_TOP_LEVEL = frozenset(TOP_LEVEL_FIELDS)


def build_response(content: dict[str, Any], version: str = "1.0") -> dict[str, Any]:
    """
    Return the protocol response around *content*: the fields of ``response``, and the
    top-level ones (states, analytics) beside it.

    The request's ``session`` is not echoed back: the protocol does not ask for it and it
    carries the user's ``access_token``.
    """
    if _TOP_LEVEL.isdisjoint(content):
        return {"response": content, "version": version}
    answer: dict[str, Any] = {
        "response": {key: value for key, value in content.items() if key not in TOP_LEVEL_FIELDS}
    }
    for key in TOP_LEVEL_FIELDS:
        if key in content:
            answer[key] = content[key]
    answer["version"] = version
    return answer
