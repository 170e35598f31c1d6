"""What a script yields: say() and its modifiers, and fitting a response into the protocol."""

import json
import logging
import random
from collections.abc import Callable
from typing import Any

from . import protocol
from .cards import card_errors
from .directives import directive_errors
from .limits import (
    MAX_BUTTON_TITLE,
    MAX_PAYLOAD_BYTES,
    MAX_STATE_BYTES,
    MAX_TEXT,
    MAX_TTS,
    MAX_URL_BYTES,
    ResponseLimitError,
    json_bytes,
)
from .request import current_request

__all__ = ["RESPONSE_FIELDS", "TOP_LEVEL_FIELDS", "fit_response", "say", "suggest"]

logger = logging.getLogger("alice.engine")

Modifier = Callable[[dict[str, Any]], None]

# What say() may set: the fields of the protocol's ``response``...
RESPONSE_FIELDS = frozenset(
    (
        "text",
        "tts",
        "buttons",
        "card",
        "end_session",
        "directives",
        "should_listen",
        "show_item_meta",
    )
)
# ...and those that go beside it, at the top level of the answer (build_response()).
TOP_LEVEL_FIELDS = frozenset(protocol.TOP_LEVEL_FIELDS)
STATE_FIELDS = ("session_state", "user_state_update", "application_state")
# The fields fit_response() fits by itself: any other is checked by _fit_fields().
_PLAIN_FIELDS = frozenset(("text", "tts", "buttons", "end_session", "should_listen"))
ELLIPSIS = "…"
# Said when a response has neither text nor tts, which the protocol rejects.
PLACEHOLDER_TEXT = "…"


def say(*args: str | Modifier, **kwargs: Any) -> dict[str, Any]:
    """
    Return the response content to yield.

    Positional strings are variants of the phrase, one chosen at random; positional callables
    are modifiers applied last, in order; keyword arguments are copied into the response.
    Inside a script the choice is seeded by the session and the turn (``request.random``), so
    that a replay of the dialog makes the same choices.
    """
    # Only an answer with keyword fields or modifiers may carry a state to check.
    fielded = bool(kwargs)
    phrases = []
    modifiers = []
    for item in args:
        if isinstance(item, str):
            phrases.append(item)
        elif callable(item):
            modifiers.append(item)
        else:
            raise ValueError("Each argument of say(...) must be str or callable")
    response = kwargs  # a new dict on every call, even for say(**fields)
    if phrases:
        response["text"] = phrases[0] if len(phrases) == 1 else _choose(phrases)
    if "end_session" not in response:
        response["end_session"] = False
    for modifier in modifiers:
        modifier(response)
    if (fielded or modifiers) and not TOP_LEVEL_FIELDS.isdisjoint(response):
        for key in STATE_FIELDS:
            if key in response:
                check_state(response[key], key)
    return response


def check_state(value: Any, key: str) -> None:
    """Raise ResponseLimitError unless *value* is an object of at most 1 KB of JSON."""
    if not isinstance(value, dict):
        raise ResponseLimitError(f"{key} must be a dict, not {type(value).__name__}")
    size = json_bytes(value, key)
    if size > MAX_STATE_BYTES:
        raise ResponseLimitError(
            f"{key} is {size} bytes of JSON, over the protocol's {MAX_STATE_BYTES}"
        )


def _choose(phrases: list[str]) -> str:
    current = current_request()
    return (random if current is None else current.random).choice(phrases)


def suggest(*titles: str) -> Modifier:
    """Return a modifier that adds a suggest button (hidden once tapped) for each title."""

    def modifier(response: dict[str, Any]) -> None:
        response.setdefault("buttons", [])
        response["buttons"] += [{"title": title, "hide": True} for title in titles]

    return modifier


def _silent(*args: Any) -> None:
    pass


def _cut(value: str, limit: int, what: str, warn: Callable[..., None]) -> str:
    warn("Response %s is %d characters, over %d: cut.", what, len(value), limit)
    return value[: limit - len(ELLIPSIS)] + ELLIPSIS


def _fit_button(button: Any, index: int, warn: Callable[..., None]) -> dict[str, Any] | None:
    """Return *button* within the limits, or None when it cannot be sent at all."""
    if not isinstance(button, dict) or not isinstance(button.get("title"), str):
        warn("Response button %d has no text title: dropped.", index)
        return None
    fitted = button
    if len(button["title"]) > MAX_BUTTON_TITLE:
        fitted = {
            **button,
            "title": _cut(button["title"], MAX_BUTTON_TITLE, "button title", warn),
        }
    url = button.get("url")
    # A cut URL would lead somewhere else: drop it instead.
    if url is not None and (not isinstance(url, str) or len(url.encode()) > MAX_URL_BYTES):
        warn("Response button %d has an invalid or too long url: dropped.", index)
        fitted = {key: value for key, value in fitted.items() if key != "url"}
    if "payload" in button:
        try:
            size = len(json.dumps(button["payload"], ensure_ascii=False).encode())
        except (TypeError, ValueError):
            size = None
        if size is None or size > MAX_PAYLOAD_BYTES:
            warn("Response button %d has an invalid or too big payload: dropped.", index)
            fitted = {key: value for key, value in fitted.items() if key != "payload"}
    return fitted


def _fit_fields(fitted: dict[str, Any], quiet: bool) -> None:
    """Drop from *fitted* what the protocol does not take: unknown fields, a card or
    directives Dialogs would refuse, a state over its limit."""
    warn = _silent if quiet else logger.warning
    error = _silent if quiet else logger.error
    for key in [key for key in fitted if key not in RESPONSE_FIELDS]:
        if key not in TOP_LEVEL_FIELDS:
            warn("Response field %r is not in the protocol: dropped.", key)
            del fitted[key]
        elif key in STATE_FIELDS:
            try:
                check_state(fitted[key], key)
            except ResponseLimitError as exc:
                error("Response %s: dropped.", exc)
                del fitted[key]
    if "card" in fitted:
        errors = card_errors(fitted["card"])
        if errors:
            error("Response card refused, not sent: %s.", "; ".join(errors))
            del fitted["card"]
    if "directives" in fitted:
        errors = directive_errors(fitted["directives"])
        if errors:
            error("Response directives refused, not sent: %s.", "; ".join(errors))
            del fitted["directives"]


def fit_response(
    content: dict[str, Any], *, quiet: bool = False, text_required: bool = True
) -> dict[str, Any]:
    """
    Return a copy of *content* that the protocol accepts, logging a warning for each fix
    (an error for a card or directives refused).

    *quiet* fits without the warnings (a replay fits again responses already sent).
    *text_required* False fits the answer to an AudioPlayer event, which has no text.
    """
    warn = _silent if quiet else logger.warning
    fitted = dict(content)
    if not _PLAIN_FIELDS.issuperset(fitted):
        _fit_fields(fitted, quiet)
    if not text_required and "text" not in fitted and "tts" not in fitted:
        fitted["end_session"] = bool(fitted.get("end_session", False))
        return fitted
    text = fitted.get("text")
    tts = fitted.get("tts")
    if tts is not None and not isinstance(tts, str):
        warn("Response tts is not a string: converted.")
        tts = fitted["tts"] = str(tts)
    if isinstance(tts, str) and len(tts) > MAX_TTS:
        fitted["tts"] = _cut(tts, MAX_TTS, "tts", warn)
    if text is None:
        if tts:
            fitted["text"] = ""
        else:
            warn("Response has no text: a placeholder is sent.")
            fitted["text"] = PLACEHOLDER_TEXT
    elif not isinstance(text, str):
        warn("Response text is not a string: converted.")
        fitted["text"] = str(text)
    elif not text and not tts:
        warn("Response text is empty and there is no tts: a placeholder is sent.")
        fitted["text"] = PLACEHOLDER_TEXT
    if len(fitted["text"]) > MAX_TEXT:
        fitted["text"] = _cut(fitted["text"], MAX_TEXT, "text", warn)
    buttons = fitted.get("buttons")
    if buttons is not None:
        if not isinstance(buttons, list):
            warn("Response buttons are not a list: dropped.")
            del fitted["buttons"]
        else:
            fitted_buttons = [_fit_button(button, i, warn) for i, button in enumerate(buttons)]
            fitted["buttons"] = [button for button in fitted_buttons if button is not None]
    fitted["end_session"] = bool(fitted.get("end_session", False))
    return fitted
