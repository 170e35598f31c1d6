"""
What every WebSocket handshake must pass before a consumer sees it: an Origin
that is the site's own (or a trusted one), and a route for its path.

Both refuse by closing before accepting, which the ASGI server answers with
HTTP 403 and a browser reports as close code 1006.
"""

import io
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from django.utils.http import is_same_domain

logger = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
Application = Callable[[dict, Receive, Send], Awaitable[None]]


async def refuse_handshake(scope: dict, receive: Receive, send: Send) -> None:
    """An ASGI application that refuses the WebSocket handshake (HTTP 403)."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close"})


async def refuse_unrouted(scope: dict, receive: Receive, send: Send) -> None:
    """
    The router's last route: a path no consumer takes is refused at the
    handshake. Without it Channels' router raises, and the server answers
    500 with a traceback in its log for what is only a wrong address.
    """
    logger.info("WebSocket handshake refused: no route for %r", scope["path"])
    await refuse_handshake(scope, receive, send)


def origin_refused(scope: dict) -> bool:
    """
    Whether the WebSocket handshake *scope* must be refused (logged as a
    warning, with why): only the site's own origin (scheme, host and port of
    the handshake itself) or one of CSRF_TRUSTED_ORIGINS may open a socket,
    and only to a Host in ALLOWED_HOSTS; the rule Django's CSRF check applies
    to the Origin of a form POST. (myproject/socket_gate.py asks it first.)

    Channels' AllowedHostsOriginValidator compares host names only, so a page
    served from another port or scheme of an allowed host could open a socket
    with the user's session cookie.
    """
    refusal = origin_refusal(handshake_request(scope))
    if refusal is None:
        return False
    logger.warning("WebSocket handshake to %r refused: %s", scope.get("path"), refusal)
    return True


def handshake_request(scope: dict) -> HttpRequest:
    """
    Return the handshake as a Django request, so that Django itself reads the
    host (ALLOWED_HOSTS, USE_X_FORWARDED_HOST) and the scheme
    (SECURE_PROXY_SSL_HEADER) exactly as it does for the site's pages.
    """
    # The handshake is an HTTP GET; its page's origin is http(s), not ws(s).
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return ASGIRequest({**scope, "method": "GET", "scheme": scheme}, io.BytesIO())


def origin_refusal(request: HttpRequest) -> str | None:
    """Return why the handshake *request* must be refused, or None to accept it."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        # Browsers always send Origin on a WebSocket handshake, and so do the
        # project's own clients (the tests' and the bench's), so refusing
        # costs no real client anything, while passing would turn the check
        # off for anything in between that drops the header.
        return "no Origin header"
    if "HTTP_HOST" not in request.META:
        # Only a non-browser client omits Host (browsers always send it), and
        # such a client can claim any Origin anyway: the Origin's own host
        # stands in, so ALLOWED_HOSTS and the scheme are still checked.
        request.META["HTTP_HOST"] = _netloc(origin)
    try:
        host = request.get_host()
    except DisallowedHost:
        return f"Host {request.META['HTTP_HOST']!r} is not in ALLOWED_HOSTS"
    own_origin = f"{'https' if request.is_secure() else 'http'}://{host}"
    if origin == own_origin or origin_is_trusted(origin):
        return None
    return f"Origin {origin!r} is neither the site's own ({own_origin!r}) nor trusted"


def origin_is_trusted(origin: str) -> bool:
    """Whether CSRF_TRUSTED_ORIGINS lists *origin*, read as Django's CSRF check reads it."""
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in {entry for entry in trusted if "*" not in entry}:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    for entry in trusted:
        if "*" in entry:
            allowed = urlsplit(entry)
            if allowed.scheme == parsed.scheme and is_same_domain(
                parsed.netloc, allowed.netloc.lstrip("*")
            ):
                return True
    return False


def _netloc(origin: str) -> str:
    try:
        return urlsplit(origin).netloc
    except ValueError:
        return ""
