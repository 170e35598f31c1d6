"""Buttons under the answer: with a payload (ButtonPressed), a url, hidden once tapped or not."""

from collections.abc import Callable
from typing import Any

from .limits import MAX_BUTTON_TITLE, ResponseLimitError, check_payload, check_text, check_url

__all__ = ["button", "buttons", "card_button"]

_NO_PAYLOAD = object()


def button(
    title: str, *, payload: Any = _NO_PAYLOAD, url: str | None = None, hide: bool = False
) -> dict[str, Any]:
    """
    Return a button of ``response.buttons``, checked against the protocol's limits.

    Tapping a button with a *payload* sends a ButtonPressed request carrying it (the script
    reads ``request.payload``); one without is sent as its title spoken. *hide* makes it a
    suggest, gone once the user answers. Raise ResponseLimitError (a ValueError) on a title
    over 64 characters, a url over 1024 bytes or a payload over 4096 bytes of JSON.
    """
    check_text(title, MAX_BUTTON_TITLE, "button title")
    check_url(url, f"the url of button {title!r}")
    if not isinstance(hide, bool):
        raise ResponseLimitError(f"hide of button {title!r} must be True or False")
    result: dict[str, Any] = {"title": title, "hide": hide}
    if payload is not _NO_PAYLOAD:
        check_payload(payload, f"the payload of button {title!r}")
        result["payload"] = payload
    if url is not None:
        result["url"] = url
    return result


def buttons(*items: str | dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """
    Return a say() modifier that appends *items*: button(...) dicts, or titles (a title is
    ``button(title)``: it stays after the answer, unlike suggest()).
    """
    made = [button(item) if isinstance(item, str) else item for item in items]
    for item in made:
        if not isinstance(item, dict):
            raise ResponseLimitError(f"buttons() takes titles or button(...), not {item!r}")

    def modifier(response: dict[str, Any]) -> None:
        response.setdefault("buttons", [])
        response["buttons"] += made

    return modifier


def card_button(
    text: str | None = None, *, payload: Any = _NO_PAYLOAD, url: str | None = None
) -> dict[str, Any]:
    """
    Return the button of a card or of a card's image: tapping it opens *url* and/or sends a
    ButtonPressed request with *payload*; *text* (at most 64 characters) is its label.
    """
    check_text(text, MAX_BUTTON_TITLE, "card button text", required=False)
    check_url(url, "card button url")
    result: dict[str, Any] = {}
    if text is not None:
        result["text"] = text
    if url is not None:
        result["url"] = url
    if payload is not _NO_PAYLOAD:
        check_payload(payload, "card button payload")
        result["payload"] = payload
    return result
