"""What a script yields: say() and its modifiers, and fitting a response into the protocol."""

import json
import logging
import random
from collections.abc import Callable
from typing import Any

from .request import current_request

__all__ = ["fit_response", "say", "suggest"]

logger = logging.getLogger("alice.engine")

Modifier = Callable[[dict[str, Any]], None]

# Protocol limits (Yandex Dialogs).
MAX_TEXT = 1024
MAX_TTS = 1024
MAX_BUTTON_TITLE = 64
MAX_URL_BYTES = 1024
MAX_PAYLOAD_BYTES = 4096
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
    return response


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


def fit_response(content: dict[str, Any], *, quiet: bool = False) -> dict[str, Any]:
    """
    Return a copy of *content* that the protocol accepts, logging a warning for each fix.

    *quiet* fits without the warnings (a replay fits again responses already sent).
    """
    warn = _silent if quiet else logger.warning
    fitted = dict(content)
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
