"""The webhook: the only piece of the engine's serving that knows Django."""

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from alice.engine import ProtocolError, Skill

# A protocol request is a few kilobytes: the utterance is at most 1024 characters.
DEFAULT_MAX_BODY_SIZE = 64 * 1024


@cache
def max_body_size() -> int:
    """Return the body size cap, ALICE_MAX_BODY_SIZE (read once: a missing setting is slow)."""
    return getattr(settings, "ALICE_MAX_BODY_SIZE", DEFAULT_MAX_BODY_SIZE)


@receiver(setting_changed)
def _forget_max_body_size(*, setting: str, **kwargs: Any) -> None:
    if setting == "ALICE_MAX_BODY_SIZE":
        max_body_size.cache_clear()


def _json(data: Any, status: int = 200) -> HttpResponse:
    # Plain json.dumps: DjangoJSONEncoder is slower and the protocol has no dates or decimals.
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse(body, status=status, content_type="application/json; charset=utf-8")


def _error(status: int, error: str, details: list[str] | None = None) -> HttpResponse:
    data: dict[str, Any] = {"error": error}
    if details:
        data["details"] = details
    return _json(data, status)


def webhook_view(skill: Skill) -> Callable[[HttpRequest], HttpResponse]:
    """Return a view that answers Alice's webhook requests with *skill*."""

    @csrf_exempt
    def webhook(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            response = _error(405, "method not allowed: use POST")
            response["Allow"] = "POST"
            return response
        limit = max_body_size()
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        # Refuse on the declared length before reading, then check what was actually read.
        if declared > limit:
            return _error(413, f"request body over {limit} bytes")
        body = request.read(limit + 1)
        if len(body) > limit:
            return _error(413, f"request body over {limit} bytes")
        try:
            data = json.loads(body.decode())
        except (UnicodeDecodeError, ValueError, RecursionError):  # the last: "[[[[..."
            return _error(400, "the body is not JSON in UTF-8")
        try:
            return _json(skill.handle(data))
        except ProtocolError as exc:
            return _error(400, "the body is not an Alice protocol request", exc.errors)

    webhook.skill = skill  # type: ignore[attr-defined]
    return webhook
