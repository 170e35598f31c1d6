"""
What a chat socket reads from a client and the refusals it answers with: the
JSON of a frame, and the ``error`` frames of docs/protocol.md.
"""

import json

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import is_valid_id

# What parse returns for text that is not JSON.
NOT_JSON = object()


class FrameError(Exception):
    """
    A client frame that is refused; ``code`` is stable, ``detail`` is for people:
    lazy, translated into the socket's language only when an error frame is sent.
    """

    def __init__(
        self, code: str, detail: str | Promise, *, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


def rate_limited(retry_after: float | None) -> FrameError:
    """The refusal of a frame over a rate limit, to retry after *retry_after* seconds."""
    return FrameError(
        "rate_limited", _("Слишком много сообщений подряд, подождите."), retry_after=retry_after
    )


def parse(text: str) -> object:
    """Return the JSON value of *text*, or NOT_JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return NOT_JSON


def client_id_of(frame: object) -> str | None:
    """The ``client_id`` a frame names, to echo in its refusal, if it names one."""
    client_id = frame.get("client_id") if isinstance(frame, dict) else None
    return client_id if isinstance(client_id, str) else None


def sync_after(frame: dict) -> int:
    """Return the id a ``sync`` frame asks for the messages after; refuse a bad one."""
    after = frame.get("after", 0)
    if not (is_valid_id(after) or (type(after) is int and after == 0)):
        raise FrameError("invalid_sync", _("after должен быть целым числом не меньше 0."))
    return after


def error_frame(
    code: str, detail: str, client_id: str | None = None, retry_after: float | None = None
) -> dict:
    """The ``error`` frame for a refusal."""
    frame = {"type": "error", "code": code, "detail": detail}
    if client_id is not None:
        frame["client_id"] = client_id
    if retry_after:
        frame["retry_after"] = seconds(retry_after)
    return frame


def seconds(delay: float) -> float:
    """A delay as the protocol gives it: seconds, to the millisecond, never 0."""
    return max(0.001, round(delay, 3))
