"""
Cards: an answer with images on a device with a screen (BigImage, ItemsList, ImageGallery).

Each builder returns a say() modifier that sets ``response.card``, checked against the
protocol's limits; card_errors() checks any card, so that fit_response() never sends one
Dialogs would refuse (an unknown type included).
"""

from collections.abc import Callable
from typing import Any

from .buttons import card_button
from .limits import (
    MAX_BUTTON_TITLE,
    MAX_CARD_DESCRIPTION,
    MAX_CARD_FOOTER,
    MAX_CARD_HEADER,
    MAX_CARD_TITLE,
    MAX_GALLERY_ITEMS,
    MAX_ITEMS_LIST,
    ResponseLimitError,
    check_payload,
    check_text,
    check_url,
)

__all__ = [
    "CARD_TYPES",
    "big_image",
    "card_button",
    "card_errors",
    "card_item",
    "image_gallery",
    "items_list",
]

Modifier = Callable[[dict[str, Any]], None]

CARD_TYPES = ("BigImage", "ItemsList", "ImageGallery")


def card_item(
    image_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    button: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return an image of an ItemsList or an ImageGallery (an ImageGallery's has no
    description); *button* is a card_button()."""
    item: dict[str, Any] = {"image_id": image_id}
    if title is not None:
        item["title"] = title
    if description is not None:
        item["description"] = description
    if button is not None:
        item["button"] = button
    _raise(_item_errors(item, "item", with_description=True))
    return item


def big_image(
    image_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    button: dict[str, Any] | None = None,
) -> Modifier:
    """Return a modifier that shows one big image (its title at most 128 characters, its
    description 256); *button* (a card_button()) makes it tappable."""
    card = {"type": "BigImage", **card_item(image_id, title=title, description=description)}
    if button is not None:
        card["button"] = button
    return _card(card)


def items_list(
    *items: dict[str, Any],
    header: str | None = None,
    footer: str | None = None,
    footer_button: dict[str, Any] | None = None,
) -> Modifier:
    """Return a modifier that shows a list of 1 to 5 card_item()s, with an optional header
    and footer text (at most 64 characters each)."""
    card: dict[str, Any] = {"type": "ItemsList", "items": list(items)}
    if header is not None:
        card["header"] = {"text": header}
    if footer is not None or footer_button is not None:
        card["footer"] = {"text": footer or ""}
        if footer_button is not None:
            card["footer"]["button"] = footer_button
    return _card(card)


def image_gallery(*items: dict[str, Any]) -> Modifier:
    """Return a modifier that shows a gallery of 1 to 10 card_item()s (no descriptions)."""
    return _card({"type": "ImageGallery", "items": list(items)})


def _card(card: dict[str, Any]) -> Modifier:
    _raise(card_errors(card))

    def modifier(response: dict[str, Any]) -> None:
        response["card"] = card

    return modifier


def _raise(errors: list[str]) -> None:
    if errors:
        raise ResponseLimitError("; ".join(errors))


def card_errors(card: Any) -> list[str]:
    """Return what makes *card* something Dialogs does not take (empty when it is valid)."""
    if not isinstance(card, dict):
        return ["the card must be an object"]
    kind = card.get("type")
    if kind not in CARD_TYPES:
        return [f"the card type {kind!r} is not one of {', '.join(CARD_TYPES)}"]
    if kind == "BigImage":
        errors = _item_errors(card, "BigImage", with_description=True)
        return errors + _button_errors(card.get("button"), "BigImage button")
    items = card.get("items")
    most = MAX_ITEMS_LIST if kind == "ItemsList" else MAX_GALLERY_ITEMS
    if not isinstance(items, list) or not 1 <= len(items) <= most:
        return [f"{kind} must have 1 to {most} items"]
    errors = []
    for index, item in enumerate(items):
        errors += _item_errors(item, f"{kind} item {index}", with_description=kind == "ItemsList")
    if kind == "ItemsList":
        errors += _text_errors(card.get("header"), "text", MAX_CARD_HEADER, "ItemsList header")
        footer = card.get("footer")
        errors += _text_errors(footer, "text", MAX_CARD_FOOTER, "ItemsList footer")
        if isinstance(footer, dict):
            errors += _button_errors(footer.get("button"), "ItemsList footer button")
    return errors


def _item_errors(item: Any, what: str, *, with_description: bool) -> list[str]:
    if not isinstance(item, dict):
        return [f"{what} must be an object"]
    errors = []
    if not isinstance(item.get("image_id"), str) or not item["image_id"]:
        errors.append(f"{what} needs an image_id")
    errors += _checked(check_text, item.get("title"), MAX_CARD_TITLE, f"{what} title")
    if with_description:
        errors += _checked(
            check_text, item.get("description"), MAX_CARD_DESCRIPTION, f"{what} description"
        )
    elif "description" in item:
        errors.append(f"{what} may not have a description")
    return errors + _button_errors(item.get("button"), f"{what} button")


def _text_errors(part: Any, key: str, limit: int, what: str) -> list[str]:
    if part is None:
        return []
    if not isinstance(part, dict):
        return [f"{what} must be an object"]
    return _checked(check_text, part.get(key), limit, f"{what} {key}")


def _button_errors(button: Any, what: str) -> list[str]:
    if button is None:
        return []
    if not isinstance(button, dict):
        return [f"{what} must be an object"]
    errors = _checked(check_text, button.get("text"), MAX_BUTTON_TITLE, f"{what} text")
    errors += _checked(
        lambda value, _limit, name: check_url(value, name), button.get("url"), 0, f"{what} url"
    )
    if "payload" in button:
        errors += _checked(
            lambda value, _limit, name: check_payload(value, name),
            button["payload"],
            0,
            f"{what} payload",
        )
    return errors


def _checked(check: Callable[..., None], value: Any, limit: int, what: str) -> list[str]:
    """Return the error of *check* on an optional *value*, as a list."""
    if value is None:
        return []
    try:
        check(value, limit, what)
    except ResponseLimitError as exc:
        return [str(exc)]
    return []
