"""Posting to the webhooks through either adapter: the Django view, or the WSGI router."""

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client

from alice.wsgi_mount import with_alice_webhooks

HOST = "127.0.0.1"

# Status, parsed JSON answer.
Post = Callable[[str, bytes], tuple[int, Any]]


def call(app, method: str, url: str, data: bytes = b"", **environ) -> tuple[int, dict, bytes]:
    """Send one request to the WSGI *app*; return status code, headers and body."""
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": url,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": HOST,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        **environ,
    }
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"] = int(status.split()[0])
        started["headers"] = dict(headers)

    content = b"".join(app(env, start_response))
    return started["status"], started["headers"], content


@contextmanager
def connections_kept() -> Iterator[None]:
    """
    As Django's test client does: the request signals the router sends must not close the
    test's database connection.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def post_to_view(url: str, body: bytes) -> tuple[int, Any]:
    """POST *body* to the Django view at *url* (the test client)."""
    response = Client().post(url, body, content_type="application/json")
    return response.status_code, json.loads(response.content)


def post_to_router(url: str, body: bytes) -> tuple[int, Any]:
    """POST *body* to *url* through the WSGI router, built now from the current settings."""
    app = with_alice_webhooks(get_wsgi_application())
    with connections_kept():
        status, _, content = call(app, "POST", url, body)
    return status, json.loads(content)


ADAPTERS: dict[str, Post] = {"view": post_to_view, "wsgi": post_to_router}
