"""
The Alice webhooks served in front of Django under WSGI (granian): myproject/wsgi.py.

with_alice_webhooks() wraps Django's WSGI application in alice.engine.router.WebhookRouter for
every webhook the URLconf mounts with alice.views.webhook_view, at the same paths. What the
router skips is what the webhook never uses: the URL resolver and the middleware of the
pages (sessions, authentication, CSRF — the view is exempt anyway — messages, time zones).
What it keeps from Django: the host check (a request for a host not in ALLOWED_HOSTS, or one
that SECURE_SSL_REDIRECT would redirect, goes to Django, which answers it as for any page),
the security headers of SecurityMiddleware and XFrameOptionsMiddleware (not HSTS, which
is for browsers), and the request
signals, which open and close database connections as for any request (the database
session store needs them). bench/alice_http.py measures the difference: see bench/README.md.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, get_resolver

from alice.engine import Skill
from alice.engine.router import WebhookRouter, WSGIApplication
from alice.views import max_body_size, skill_ids

__all__ = ["webhook_routes", "with_alice_webhooks"]


def with_alice_webhooks(application: WSGIApplication) -> WebhookRouter:
    """Return *application* behind a router that answers the URLconf's Alice webhooks."""
    return WebhookRouter(
        webhook_routes(),
        application,
        accepts=_accepts,
        scope=_django_request,
        headers=_security_headers(),
        max_body_size=max_body_size(),
        skill_ids=skill_ids(),
    )


def webhook_routes(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "/"
) -> dict[str, Skill]:
    """
    Return path -> skill for each webhook_view in the URLconf (or *patterns*).

    Only fixed paths: a route with a converter (``<slug:name>/``) needs Django's resolver,
    so it is left to Django.
    """
    if patterns is None:
        patterns = get_resolver().url_patterns
    routes: dict[str, Skill] = {}
    for pattern in patterns:
        route = str(pattern.pattern)
        if "<" in route or route.startswith("^"):
            continue
        if isinstance(pattern, URLResolver):
            routes.update(webhook_routes(pattern.url_patterns, prefix + route))
            continue
        skill = getattr(pattern.callback, "skill", None)
        if isinstance(skill, Skill):
            routes.setdefault(prefix + route, skill)
    return routes


def _accepts(environ: dict[str, Any]) -> bool:
    """Return True if Django would serve the request as it is (no host error, no redirect)."""
    # Django's own checks, on a bare HttpRequest: ~5 µs, no URL resolving, no middleware.
    request = HttpRequest()
    request.META = environ
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return False
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


@contextmanager
def _django_request(environ: dict[str, Any]) -> Iterator[None]:
    # As Django's WSGIHandler: its receivers close stale database connections.
    signals.request_started.send(sender=WebhookRouter, environ=environ)
    try:
        yield
    finally:
        signals.request_finished.send(sender=WebhookRouter)


def _security_headers() -> list[tuple[str, str]]:
    """Return the headers SecurityMiddleware and XFrameOptionsMiddleware add to a page."""
    headers = []
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        if not isinstance(policy, str):
            policy = ",".join(policy)
        headers.append(("Referrer-Policy", policy))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
    return headers
