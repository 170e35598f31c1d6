"""
The limits of the Yandex Dialogs protocol that a response must respect, in one place.

The builders (buttons, cards, directives, state) refuse what is over them, fit_response()
fits or drops it, and the conformance schema (schema.py) checks every response against them.
"""

# response.text and response.tts, in characters.
MAX_TEXT = 1024
MAX_TTS = 1024
# A button's title (response.buttons[].title) and a card button's text, in characters.
MAX_BUTTON_TITLE = 64
# A button's url, in bytes of UTF-8.
MAX_URL_BYTES = 1024
# A button's payload, in bytes of its JSON.
MAX_PAYLOAD_BYTES = 4096
# session_state, user_state_update and application_state, each in bytes of its JSON.
MAX_STATE_BYTES = 1024
# Cards: an image's title and description, in characters.
MAX_CARD_TITLE = 128
MAX_CARD_DESCRIPTION = 256
# ItemsList: the header's and the footer's text, in characters; 1 to 5 items.
MAX_CARD_HEADER = 64
MAX_CARD_FOOTER = 64
MAX_ITEMS_LIST = 5
# ImageGallery: 1 to 10 images.
MAX_GALLERY_ITEMS = 10


class ResponseLimitError(ValueError):
    """A response builder was given what the protocol does not take; the message says what."""


def json_bytes(value: object, what: str) -> int:
    """Return the size of *value* as JSON in UTF-8; raise ResponseLimitError if it is not JSON."""
    import json

    try:
        return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise ResponseLimitError(f"{what} must be JSON: {exc}") from exc


def check_text(value: object, limit: int, what: str, *, required: bool = True) -> None:
    """Raise ResponseLimitError unless *value* is a string of at most *limit* characters."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise ResponseLimitError(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise ResponseLimitError(f"{what} has {len(value)} characters, over {limit}")


def check_url(url: object, what: str) -> None:
    """Raise ResponseLimitError unless *url* is None or a string of at most MAX_URL_BYTES."""
    if url is None:
        return
    if not isinstance(url, str):
        raise ResponseLimitError(f"{what} must be a string, not {type(url).__name__}")
    size = len(url.encode())
    if size > MAX_URL_BYTES:
        raise ResponseLimitError(f"{what} is {size} bytes, over {MAX_URL_BYTES}")


def check_payload(payload: object, what: str) -> None:
    """Raise ResponseLimitError unless *payload* is JSON of at most MAX_PAYLOAD_BYTES."""
    size = json_bytes(payload, what)
    if size > MAX_PAYLOAD_BYTES:
        raise ResponseLimitError(f"{what} is {size} bytes of JSON, over {MAX_PAYLOAD_BYTES}")
