"""
A WSGI router that answers Alice's webhooks itself and hands every other request on.

Under WSGI a Django request costs far more than the dialog it carries: the handler, the
URL resolver, ten middlewares built for pages with sessions and logins. The webhook needs
none of them (no cookies, no CSRF, no templates), so the router answers its exact paths with
answer_webhook() and passes everything else — and whatever the host application must judge
first, through *accepts* — to the application behind it. bench/alice_http.py measures both.
"""

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from . import morphology
from .skill import Skill
from .webhook import DEFAULT_MAX_BODY_SIZE, JSON_CONTENT_TYPE, answer_webhook

__all__ = ["WebhookRouter"]

logger = logging.getLogger("alice.webhook")

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}
_INTERNAL_ERROR = b'{"error":"internal server error"}'


class WebhookRouter:
    """
    A WSGI application: the webhooks of *routes* (exact path -> skill), else *fallback*.

    *accepts(environ)* may refuse a request the router would answer, which then goes to
    *fallback* (e.g. a host the site does not serve, so that the site gives its own error);
    *scope()* is entered around every webhook request (e.g. the host framework's request
    signals, which manage database connections); *headers* are added to every answer;
    *max_body_size* caps a request's body; *skill_ids*, when not empty, are the only
    ``session.skill_id`` answered (answer_webhook()).
    """

    def __init__(
        self,
        routes: Mapping[str, Skill],
        fallback: WSGIApplication,
        *,
        accepts: Callable[[dict[str, Any]], bool] | None = None,
        scope: Callable[[dict[str, Any]], AbstractContextManager[object]] | None = None,
        headers: Iterable[tuple[str, str]] = (),
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        skill_ids: Collection[str] = (),
    ) -> None:
        self.routes = dict(routes)
        self.fallback = fallback
        self.accepts = accepts
        self.scope = scope or (lambda environ: nullcontext())
        self.headers = [("Content-Type", JSON_CONTENT_TYPE), *headers]
        self.max_body_size = max_body_size
        self.skill_ids = frozenset(skill_ids)
        # The router is built once, at the start of a serving process: load the dictionaries
        # now rather than in the first user's request.
        morphology.warm_up()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        skill = self.routes.get(environ.get("PATH_INFO", ""))
        if skill is None or (self.accepts is not None and not self.accepts(environ)):
            return self.fallback(environ, start_response)
        try:
            with self.scope(environ):
                answer = answer_webhook(
                    skill,
                    method=environ.get("REQUEST_METHOD", "GET"),
                    content_length=environ.get("CONTENT_LENGTH"),
                    read=environ["wsgi.input"].read,
                    max_body_size=self.max_body_size,
                    skill_ids=self.skill_ids,
                )
        except Exception:
            # The skill answers its script's failures itself: this is a bug here or in a
            # store, and Alice gets a JSON error rather than a dropped connection.
            logger.exception("The webhook %s failed.", environ.get("PATH_INFO"))
            status, body, allow = 500, _INTERNAL_ERROR, None
        else:
            status, body, allow = answer.status, answer.body, answer.allow
        headers = [*self.headers, ("Content-Length", str(len(body)))]
        if allow is not None:
            headers.append(("Allow", allow))
        start_response(f"{status} {_REASONS[status]}", headers)
        return [body]

    def __repr__(self) -> str:
        return f"<WebhookRouter {sorted(self.routes)} then {self.fallback!r}>"
