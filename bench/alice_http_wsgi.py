"""
A candidate measured by bench/alice_http.py: the webhook outside Django's request handling.

``application`` answers POST /alice/ by calling the skill directly from WSGI (no middleware,
no URL resolution, no HttpRequest) and hands every other request to Django, with the
project's settings. ``trivial`` is the same server with a constant answer: gunicorn's own
ceiling.
"""

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
django_application = get_wsgi_application()

from alice.engine import ProtocolError  # noqa: E402
from alice.scripts.acquaintance import skill  # noqa: E402
from alice.views import max_body_size  # noqa: E402
from bench.alice_http_urls import TRIVIAL_BODY  # noqa: E402

StartResponse = Callable[..., Any]
JSON = "application/json; charset=utf-8"


def _answer(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", JSON), ("Content-Length", str(len(body)))])
    return [body]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer /alice/ with the skill, anything else with Django."""
    if environ["PATH_INFO"] != "/alice/" or environ["REQUEST_METHOD"] != "POST":
        return django_application(environ, start_response)
    limit = max_body_size()
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        return _answer(start_response, "413 Request Entity Too Large", b'{"error":"too big"}')
    try:
        answer = skill.handle(json.loads(body))
    except (UnicodeDecodeError, ValueError, RecursionError, ProtocolError):
        return _answer(start_response, "400 Bad Request", b'{"error":"bad request"}')
    data = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
    return _answer(start_response, "200 OK", data)


def trivial(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Read the body and answer a constant protocol response."""
    environ["wsgi.input"].read()
    return _answer(start_response, "200 OK", TRIVIAL_BODY)
