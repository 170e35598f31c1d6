"""
The Alice webhooks served in front of Django under WSGI (granian): myproject/wsgi.py.

with_alice_webhooks() wraps Django's WSGI application in alice.engine.router.WebhookRouter for
every webhook the URLconf mounts with alice.views.webhook_view, at the same paths. What the
router skips is what the webhook never uses: the URL resolver and the middleware of the
pages (sessions, authentication, CSRF — the view is exempt anyway — messages, time zones).
What it keeps from Django: the host check (a request for a host not in ALLOWED_HOSTS, or one
that SECURE_SSL_REDIRECT would redirect, goes to Django, which answers it as for any page),
the security headers of SecurityMiddleware and XFrameOptionsMiddleware (not HSTS, which
is for browsers), and the request signals, which reset and close database connections as
for any request (the database session store needs them), sent whenever a receiver would
find something to do (_DjangoRequest). bench/alice_http.py measures the difference: see
bench/README.md.
"""

import threading
from functools import cache, lru_cache
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import DisallowedHost
from django.core.handlers.base import reset_urlconf
from django.core.signals import setting_changed
from django.db import close_old_connections, connections, reset_queries
from django.db.backends.signals import connection_created
from django.dispatch import Signal
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from alice.engine import Skill
from alice.engine.router import WebhookRouter, WSGIApplication
from alice.views import max_body_size, skill_ids

__all__ = ["webhook_routes", "with_alice_webhooks"]


def with_alice_webhooks(application: WSGIApplication) -> WebhookRouter:
    """Return *application* behind a router that answers the URLconf's Alice webhooks."""
    if any(connection.connection is not None for connection in connections.all(True)):
        _thread.connected = True  # opened before _opened_connection() was listening
    return WebhookRouter(
        webhook_routes(),
        application,
        accepts=_accepts,
        scope=_DjangoRequest,
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


# What Django's host and scheme checks read of a request (HttpRequest.get_host() and
# is_secure() on a bare HttpRequest), besides the header SECURE_PROXY_SSL_HEADER names.
_HOST_KEYS = (
    "HTTP_X_FORWARDED_HOST",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_X_FORWARDED_PORT",
)


def _accepts(environ: dict[str, Any]) -> bool:
    """Return True if Django would serve the request as it is (no host error, no redirect)."""
    # Every webhook request of a deployment comes with the same few values: the verdict is
    # Django's, computed once for each (building an HttpRequest costs more than the rest of
    # the router's own work).
    return _verdict(tuple(map(environ.get, _checked_keys())))


@cache
def _checked_keys() -> tuple[str, ...]:
    """Return the environ keys _verdict() depends on, in its key's order."""
    header = settings.SECURE_PROXY_SSL_HEADER
    return (*_HOST_KEYS, header[0]) if header else _HOST_KEYS


# Bounded: a client may send any number of distinct Host headers, each checked anew.
@lru_cache(maxsize=256)
def _verdict(values: tuple[str | None, ...]) -> bool:
    """Django's verdict on a request whose _checked_keys() have *values* (None: absent)."""
    request = HttpRequest()
    pairs = zip(_checked_keys(), values, strict=True)
    request.META = {key: value for key, value in pairs if value is not None}
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return False
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


def _forget_verdicts(**kwargs: Any) -> None:
    """A setting changed (tests' override_settings): the verdicts may have too."""
    _checked_keys.cache_clear()
    _verdict.cache_clear()
    _caches_close_nothing.cache_clear()


setting_changed.connect(_forget_verdicts, dispatch_uid="alice.wsgi_mount._forget_verdicts")


class _DjangoRequest:
    """
    As Django's WSGIHandler around a request: the request signals, whose receivers reset
    and close the thread's stale database connections and caches.

    Sent whenever they could do anything. With only Django's own receivers connected, in a
    thread that has never opened a database connection, and caches whose close() does
    nothing, every receiver finds nothing to do; the webhook's own work is then cheaper
    than sending them, so they are not sent. (The URLconf that reset_urlconf clears is set
    only inside a request through Django, whose own request_finished clears it.) A request
    that opens a connection gets request_finished, which closes it as after any request.
    """

    __slots__ = ("environ", "started")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.started = False

    def __enter__(self) -> None:
        self.started = not _request_signals_do_nothing()
        if self.started:
            signals.request_started.send(sender=WebhookRouter, environ=self.environ)

    def __exit__(self, *exc_info: object) -> None:
        if self.started or getattr(_thread, "connected", False):
            signals.request_finished.send(sender=WebhookRouter)


# Django's own receivers of the request signals, by their lookup key (connected for any
# sender): each acts only on what the thread has open (its connections, caches, URLconf).
_DJANGO_RECEIVERS = frozenset(
    (id(receiver), id(None))
    for receiver in (reset_queries, close_old_connections, close_caches, reset_urlconf)
)

# Per thread: ``connected``, once the thread has opened a database connection.
_thread = threading.local()


def _opened_connection(**kwargs: Any) -> None:
    _thread.connected = True


connection_created.connect(_opened_connection, dispatch_uid="alice.wsgi_mount._opened_connection")


def _request_signals_do_nothing() -> bool:
    """Return whether every receiver of the request signals would do nothing now, here."""
    return (
        not getattr(_thread, "connected", False)
        and _caches_close_nothing()
        and _only_djangos_receivers(signals.request_started)
        and _only_djangos_receivers(signals.request_finished)
    )


def _only_djangos_receivers(signal: Signal) -> bool:
    """Return whether *signal*'s receivers are all in _DJANGO_RECEIVERS."""
    return _DJANGO_RECEIVERS.issuperset([receiver[0] for receiver in signal.receivers])


@cache
def _caches_close_nothing() -> bool:
    """Return whether every configured cache's close() is BaseCache's, which does nothing."""
    backends = (import_string(options["BACKEND"]) for options in settings.CACHES.values())
    return all(backend.close is BaseCache.close for backend in backends)


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
