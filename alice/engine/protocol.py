"""The webhook protocol of Yandex Dialogs: checking a request's shape, building a response."""

from typing import Any

__all__ = ["ProtocolError", "build_response", "validate_request"]

MAX_SESSION_ID = 64

_KIND_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    bool: "a boolean",
}


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


def validate_request(data: Any) -> dict[str, Any]:
    """
    Return *data* if it has the shape of a protocol request, else raise ProtocolError.

    Only what the engine relies on is checked; unknown extra fields are let through.
    """
    if not isinstance(data, dict):
        raise ProtocolError(["the body must be a JSON object"])
    errors: list[str] = []
    _field(data, "version", str, "", errors, required=True)
    _field(data, "meta", dict, "", errors)
    _field(data, "state", dict, "", errors)
    session = _field(data, "session", dict, "", errors, required=True)
    if session is not None:
        session_id = _field(session, "session_id", str, "session.", errors, required=True)
        if session_id is not None and not 0 < len(session_id) <= MAX_SESSION_ID:
            errors.append(f"session.session_id must have 1 to {MAX_SESSION_ID} characters")
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
        _field(body, "command", str, "request.", errors)
        _field(body, "original_utterance", str, "request.", errors)
        nlu = _field(body, "nlu", dict, "request.", errors)
        if nlu is not None:
            tokens = _field(nlu, "tokens", list, "request.nlu.", errors)
            if tokens and not all(isinstance(token, str) for token in tokens):
                errors.append("request.nlu.tokens must hold strings")
            entities = _field(nlu, "entities", list, "request.nlu.", errors)
            if entities and not all(isinstance(entity, dict) for entity in entities):
                errors.append("request.nlu.entities must hold objects")
    if errors:
        raise ProtocolError(errors)
    return data


def build_response(content: dict[str, Any], version: str = "1.0") -> dict[str, Any]:
    """
    Return the protocol response around *content*.

    The request's ``session`` is not echoed back: the protocol does not ask for it and it
    carries the user's ``access_token``.
    """
    return {"response": content, "version": version}
