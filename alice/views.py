"""The webhook view: the Django side of alice.engine.webhook.answer_webhook()."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from alice.engine import Skill
from alice.engine.webhook import JSON_CONTENT_TYPE, answer_webhook


def max_body_size() -> int:
    """Return the body size cap, ALICE_MAX_BODY_SIZE."""
    return settings.ALICE_MAX_BODY_SIZE


def skill_ids() -> frozenset[str]:
    """Return the skill ids the webhooks serve, from ALICE_SKILL_ID (empty: any)."""
    return frozenset(filter(None, (part.strip() for part in settings.ALICE_SKILL_ID.split(","))))


def webhook_view(skill: Skill) -> Callable[[HttpRequest], HttpResponse]:
    """
    Return a view that answers Alice's webhook requests with *skill*.

    Under WSGI, alice.wsgi_mount answers the same paths before Django sees them; this view
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
            skill_ids=skill_ids(),
        )
        response = HttpResponse(answer.body, status=answer.status, content_type=JSON_CONTENT_TYPE)
        if answer.allow is not None:
            response["Allow"] = answer.allow
        return response

    webhook.skill = skill  # type: ignore[attr-defined]
    return webhook
