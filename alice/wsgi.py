"""
The Alice webhooks served in front of Django under WSGI (granian): myproject/wsgi.py.

with_alice_webhooks() wraps Django's WSGI application in alice.engine.wsgi.WebhookRouter for
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
from django.http.request import split_domain_port, validate_host
from django.urls import URLPattern, URLResolver, get_resolver

from alice.engine import Skill
from alice.engine.wsgi import WebhookRouter, WSGIApplication
from alice.views import max_body_size

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
    if settings.SECURE_SSL_REDIRECT and not _is_secure(environ):
        return False
    host = _raw_host(environ)
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host()
    return bool(domain) and validate_host(domain, allowed)


def _raw_host(environ: dict[str, Any]) -> str:
    # HttpRequest._get_raw_host(), which needs an HttpRequest.
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        return environ["HTTP_X_FORWARDED_HOST"]
    if "HTTP_HOST" in environ:
        return environ["HTTP_HOST"]
    host = environ.get("SERVER_NAME", "")
    port = str(environ.get("SERVER_PORT", ""))
    scheme_port = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return host if port in ("", scheme_port) else f"{host}:{port}"


def _is_secure(environ: dict[str, Any]) -> bool:
    # HttpRequest.is_secure().
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


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
