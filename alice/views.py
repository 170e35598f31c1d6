"""The webhook view: the Django side of alice.engine.webhook.answer_webhook()."""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from alice.engine import Skill
from alice.engine.webhook import DEFAULT_MAX_BODY_SIZE, JSON_CONTENT_TYPE, answer_webhook


@cache
def max_body_size() -> int:
    """Return the body size cap, ALICE_MAX_BODY_SIZE (read once: a missing setting is slow)."""
    return getattr(settings, "ALICE_MAX_BODY_SIZE", DEFAULT_MAX_BODY_SIZE)


@receiver(setting_changed)
def _forget_max_body_size(*, setting: str, **kwargs: Any) -> None:
    if setting == "ALICE_MAX_BODY_SIZE":
        max_body_size.cache_clear()


def webhook_view(skill: Skill) -> Callable[[HttpRequest], HttpResponse]:
    """
    Return a view that answers Alice's webhook requests with *skill*.

    Under WSGI, alice.wsgi answers the same paths before Django sees them; this view
    serves them everywhere else (``runserver``, ASGI) with the same answers.
    """

    @csrf_exempt
    def webhook(request: HttpRequest) -> HttpResponse:
        answer = answer_webhook(
            skill,
            method=request.method or "GET",
            content_length=request.META.get("CONTENT_LENGTH"),
            read=request.read,
            max_body_size=max_body_size(),
        )
        response = HttpResponse(answer.body, status=answer.status, content_type=JSON_CONTENT_TYPE)
        if answer.allow is not None:
            response["Allow"] = answer.allow
        return response

    webhook.skill = skill  # type: ignore[attr-defined]
    return webhook
