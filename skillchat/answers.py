"""
A skill's answer as a chat message: its text, and the attachments browsers show (buttons
as chips, a card simply; docs/protocol.md). ``tts`` and directives have no place in a chat.
"""

import re
from typing import Any

from django.utils.translation import gettext

from alice.engine.cards import card_errors
from alice.engine.response import fit_response

# Where Dialogs serves a skill's uploaded images, by their image_id.
IMAGE_URL = "https://avatars.mds.yandex.net/get-dialogs-skill-card/{image_id}/orig"
_IMAGE_ID = re.compile(r"[A-Za-z0-9_/-]{1,200}")
# Shown for an answer with no text (a card alone).
NO_TEXT = "…"


def failure_text() -> str:
    """The polite line sent when a skill could not be asked or did not answer usably."""
    return gettext("Извините, навык сейчас не может ответить. Попробуйте, пожалуйста, ещё раз.")


def valid_answer(data: Any) -> dict[str, Any] | None:
    """
    Return *data*, an answer from outside (a webhook), fitted to the protocol as the engine
    fits its own (fit_response: bad buttons, a refused card dropped), or None if it is no
    protocol answer at all.
    """
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
        return None
    if not isinstance(data.get("version"), str):
        return None
    content = data["response"]
    if not isinstance(content.get("text"), str) and not isinstance(content.get("tts"), str):
        return None
    return {**data, "response": fit_response(content, quiet=True)}


def chat_message(answer: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return the (text, attachments) of the chat message that shows *answer*."""
    content = answer.get("response") or {}
    text = content.get("text")
    text = text.strip() if isinstance(text, str) else ""
    card = _card(content.get("card"))
    attachments: dict[str, Any] = {
        "buttons": [button for b in content.get("buttons") or () if (button := _button(b))],
        "end_session": bool(content.get("end_session")),
    }
    if card is not None:
        attachments["card"] = card
        if not text:
            text = card.get("title") or card.get("header") or ""
    return text or NO_TEXT, attachments


def _button(button: Any) -> dict[str, Any] | None:
    if not isinstance(button, dict) or not isinstance(button.get("title"), str):
        return None
    result: dict[str, Any] = {"title": button["title"], "hide": bool(button.get("hide"))}
    url = button.get("url")
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        result["url"] = url
    if "payload" in button:
        result["payload"] = button["payload"]
    return result


def image_url(image_id: Any) -> str | None:
    """The address of a card image, or None for no (or a malformed) image_id."""
    if isinstance(image_id, str) and _IMAGE_ID.fullmatch(image_id):
        return IMAGE_URL.format(image_id=image_id)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _card(card: Any) -> dict[str, Any] | None:
    if not isinstance(card, dict) or card_errors(card):
        return None
    kind = card.get("type")
    if kind == "BigImage":
        return {
            "type": kind,
            "image_url": image_url(card.get("image_id")),
            "title": _text(card.get("title")),
            "description": _text(card.get("description")),
        }
    if kind == "ItemsList":
        return {
            "type": kind,
            "header": _text((card.get("header") or {}).get("text")),
            "items": [
                {
                    "title": _text(item.get("title")),
                    "description": _text(item.get("description")),
                    "image_url": image_url(item.get("image_id")),
                }
                for item in card.get("items") or ()
            ],
            "footer": _text((card.get("footer") or {}).get("text")),
        }
    if kind == "ImageGallery":
        return {
            "type": kind,
            "items": [
                {"title": _text(item.get("title")), "image_url": image_url(item.get("image_id"))}
                for item in card.get("items") or ()
            ],
        }
    return None
