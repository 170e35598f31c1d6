"""
Answer 503 at once when the database connection pool is exhausted.

With every pooled connection in use, a request waits up to the pool's
``timeout`` (DATABASE_POOL_TIMEOUT) for one; then psycopg_pool raises
PoolTimeout, which Django's error wrapper re-raises as
``django.db.utils.OperationalError`` (the PoolTimeout as its ``__cause__``).
Unhandled, that is a 500 with a traceback logged at ERROR for what is an
overload, not a bug: the client is better told to come back shortly.
"""

import logging

from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.html import escape
from django.utils.translation import get_language, gettext
from psycopg_pool import PoolTimeout, TooManyRequests

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait: about how long a burst that filled the
# pool takes to drain.
RETRY_AFTER = 5

# In the request's language (LocaleMiddleware activated it before the view ran).
PAGE = """<!doctype html>
<html lang="{language}">
<head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{message}</p></body>
</html>
"""


def overloaded_message() -> str:
    return gettext("Сервер перегружен. Повторите попытку через несколько секунд.")


def is_pool_exhausted(exception: BaseException) -> bool:
    """Return whether *exception* is (or was raised from) running out of pooled connections."""
    seen = set()
    current: BaseException | None = exception
    while current is not None and id(current) not in seen:
        if isinstance(current, PoolTimeout | TooManyRequests):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class PoolExhaustedMiddleware(MiddlewareMixin):
    """
    Turn a view's (or its template's) wait for a database connection that ran
    out into 503 Service Unavailable with Retry-After, logged once at WARNING.

    It acts in process_exception, which Django calls for sync and async views
    alike (under ASGI too). A pool timeout raised inside another middleware
    does not reach it: Django has already made that a 500.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_pool_exhausted(exception):
            return None
        logger.warning(
            "Database pool exhausted, answered 503: %s %s (%s)",
            request.method,
            request.path,
            _pool_stats(),
        )
        response = overloaded_response(request)
        # Django logs every response of 500 or more again, at ERROR; this one
        # has just been logged.
        response._has_been_logged = True
        return response


def overloaded_response(request: HttpRequest) -> HttpResponse:
    """Return the 503 answer: JSON for JSON clients, a short page for browsers."""
    wants_json = request.content_type == "application/json" or (
        request.get_preferred_type(["text/html", "application/json"]) == "application/json"
    )
    if wants_json:
        response = JsonResponse(
            {"error": "overloaded", "message": overloaded_message()}, status=503
        )
    else:
        page = PAGE.format(
            language=escape(get_language()),
            title=escape(gettext("Сервер перегружен")),
            message=escape(overloaded_message()),
        )
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER)
    return response


def _pool_stats() -> str:
    """Return the default pool's counters that tell how it ran out, for the log."""
    connection = connections["default"]
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"):
        return "no pool"
    stats = connection.pool.get_stats()
    return ", ".join(
        f"{name}={stats[name]}"
        for name in ("pool_size", "pool_available", "requests_waiting", "requests_errors")
        if name in stats
    )
