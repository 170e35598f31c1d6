"""
Directives (``response.directives``) and the other response fields that drive the device:
the audio player, account linking, the geolocation request, and a Show item's metadata.
"""

from collections.abc import Callable
from typing import Any

from .limits import MAX_CARD_TITLE, ResponseLimitError, check_text, check_url

__all__ = [
    "DIRECTIVES",
    "audio_player_play",
    "audio_player_stop",
    "directive_errors",
    "request_geolocation",
    "show_item_meta",
    "start_account_linking",
]

Modifier = Callable[[dict[str, Any]], None]

DIRECTIVES = ("audio_player", "start_account_linking", "request_geolocation")
# The longest stream token; it comes back in the AudioPlayer.* requests.
MAX_AUDIO_TOKEN = 1024


def _directive(name: str, value: dict[str, Any]) -> Modifier:
    def modifier(response: dict[str, Any]) -> None:
        directives = response.get("directives")
        response["directives"] = {**(directives or {}), name: value}

    return modifier


def start_account_linking() -> Modifier:
    """
    Return a modifier that asks the user to link their account (OAuth, set up in the
    console). The user signs in on a screen device; the skill then gets an
    AccountLinkingComplete request, which reaches the script: it waits for it with
    ``request.type == RequestType.ACCOUNT_LINKING_COMPLETE`` (docs/alice.md, "Events").
    """
    return _directive("start_account_linking", {})


def request_geolocation() -> Modifier:
    """
    Return a modifier that asks the user for their location. The answer is a
    Geolocation.Allowed (with ``session.location``, read as ``request.location``) or a
    Geolocation.Rejected request, which reaches the script.
    """
    return _directive("request_geolocation", {})


def audio_player_play(
    url: str,
    token: str,
    *,
    offset_ms: int = 0,
    title: str | None = None,
    sub_title: str | None = None,
    art_url: str | None = None,
    background_url: str | None = None,
) -> Modifier:
    """
    Return a modifier that plays the audio stream at *url* (devices whose
    ``request.meta.interfaces.audio_player`` is true). *token* names the stream in the
    AudioPlayer.* requests that report its progress.
    """
    check_url(url, "the audio stream url")
    check_text(token, MAX_AUDIO_TOKEN, "the audio stream token")
    if not isinstance(offset_ms, int) or isinstance(offset_ms, bool) or offset_ms < 0:
        raise ResponseLimitError("offset_ms must be a non-negative integer")
    item: dict[str, Any] = {"stream": {"url": url, "offset_ms": offset_ms, "token": token}}
    metadata: dict[str, Any] = {}
    for key, value in (("title", title), ("sub_title", sub_title)):
        if value is not None:
            check_text(value, MAX_CARD_TITLE, f"the audio {key}")
            metadata[key] = value
    for key, value in (("art", art_url), ("background_image", background_url)):
        if value is not None:
            check_url(value, f"the audio {key} url")
            metadata[key] = {"url": value}
    if metadata:
        item["metadata"] = metadata
    return _directive("audio_player", {"action": "Play", "item": item})


def audio_player_stop() -> Modifier:
    """Return a modifier that stops the audio player."""
    return _directive("audio_player", {"action": "Stop"})


def show_item_meta(
    content_id: str,
    *,
    title: str | None = None,
    title_tts: str | None = None,
    publication_date: str,
    expiration_date: str | None = None,
) -> Modifier:
    """
    Return a modifier that marks the answer to a Show.Pull request as an item of the
    morning show (``response.show_item_meta``); dates are ISO 8601 strings.
    """
    check_text(content_id, MAX_CARD_TITLE, "show item content_id")
    check_text(publication_date, 64, "show item publication_date")
    meta: dict[str, Any] = {"content_id": content_id, "publication_date": publication_date}
    for key, value in (
        ("title", title),
        ("title_tts", title_tts),
        ("expiration_date", expiration_date),
    ):
        if value is not None:
            check_text(value, MAX_CARD_TITLE, f"show item {key}")
            meta[key] = value

    def modifier(response: dict[str, Any]) -> None:
        response["show_item_meta"] = meta

    return modifier


def directive_errors(directives: Any) -> list[str]:
    """Return what makes *directives* something Dialogs does not take (empty when valid)."""
    if not isinstance(directives, dict):
        return ["directives must be an object"]
    errors = [
        f"the directive {name!r} is not one of {', '.join(DIRECTIVES)}"
        for name in directives
        if name not in DIRECTIVES
    ]
    for name in ("start_account_linking", "request_geolocation"):
        if name in directives and directives[name] != {}:
            errors.append(f"the directive {name} must be an empty object")
    player = directives.get("audio_player")
    if player is not None:
        action = player.get("action") if isinstance(player, dict) else None
        if action == "Play":
            stream = (player.get("item") or {}).get("stream")
            if not isinstance(stream, dict) or not isinstance(stream.get("url"), str):
                errors.append("audio_player Play needs item.stream.url")
            elif not isinstance(stream.get("token"), str):
                errors.append("audio_player Play needs item.stream.token")
        elif action != "Stop":
            errors.append("audio_player action must be Play or Stop")
    return errors
