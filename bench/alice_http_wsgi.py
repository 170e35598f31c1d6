"""
The ceiling of bench/alice_http.py: a constant protocol answer from a plain WSGI callable.

The webhook is answered by a WSGI router in front of Django (alice/wsgi_mount.py) under gunicorn;
``trivial`` is the least any answer costs on that server: read the body, send constant JSON.
"""

from collections.abc import Callable, Iterable
from typing import Any

JSON = "application/json; charset=utf-8"
TRIVIAL_BODY = b'{"response":{"text":"ok","end_session":false},"version":"1.0"}'


def trivial(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Read the body and answer a constant protocol response."""
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", JSON), ("Content-Length", str(len(TRIVIAL_BODY)))])
    return [TRIVIAL_BODY]
