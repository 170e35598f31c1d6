"""
The webhook over HTTP, free of any web framework: one function from a request to an answer.

Every way this project serves a skill goes through answer_webhook(): the Django view
(alice/views.py, e.g. under ``runserver``) and the WSGI router (alice/engine/router.py, which
answers the webhooks in front of Django under WSGI). So both give the same statuses, the
same error bodies and the same bytes.
"""

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

from .protocol import ProtocolError, compact_json, validate_request
from .skill import Skill

__all__ = ["JSON_CONTENT_TYPE", "WebhookAnswer", "answer_webhook"]

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# A protocol request is a few kilobytes: the utterance is at most 1024 characters.
DEFAULT_MAX_BODY_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """An HTTP answer: status code, JSON body, and an ``Allow`` header for a 405."""

    status: int
    body: bytes
    allow: str | None = None


def _json(data: Any, status: int = 200) -> WebhookAnswer:
    return WebhookAnswer(status, compact_json(data).encode())


def _error(status: int, error: str, details: list[str] | None = None) -> WebhookAnswer:
    data: dict[str, Any] = {"error": error}
    if details:
        data["details"] = details
    return _json(data, status)


def answer_webhook(
    skill: Skill,
    *,
    method: str,
    content_length: str | None,
    read: Callable[[int], bytes],
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    skill_ids: Collection[str] = (),
) -> WebhookAnswer:
    """
    Answer one HTTP request to *skill*'s webhook.

    *content_length* is the request's Content-Length header (or None); *read(n)* reads at
    most n bytes of the body. Only POST is served (405 otherwise); a body over
    *max_body_size* is a 413, refused on its declared length before anything is read; a
    body that is not JSON in UTF-8, or not a protocol request, is a 400. When *skill_ids*
    is not empty, a request whose ``session.skill_id`` is none of them is a 403, answered
    before the skill sees it. Every error is a JSON ``{"error": ..., "details": [...]}``.
    """
    if method != "POST":
        return replace(_error(405, "method not allowed: use POST"), allow="POST")
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    if declared > max_body_size:
        return _error(413, f"request body over {max_body_size} bytes")
    # Then check what was actually read: a client may send more than it declared.
    body = read(max_body_size + 1)
    if len(body) > max_body_size:
        return _error(413, f"request body over {max_body_size} bytes")
    try:
        text = body.decode()
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):  # the last: "[[[[..."
        return _error(400, "the body is not JSON in UTF-8")
    try:
        valid = validate_request(data, source=text)
    except ProtocolError as exc:
        return _error(400, "the body is not an Alice protocol request", exc.errors)
    if skill_ids and valid["session"].get("skill_id") not in skill_ids:
        # Not a request of this site's skill, e.g. a scanner: it starts no dialog and no
        # stored session; refused rather than answered so that it never looks served.
        return _error(403, "the request is for another skill: session.skill_id differs")
    return _json(skill.respond(valid))
