"""The language of a WebSocket: Channels activates none, so it is worked out here."""

from django.http import HttpRequest
from django.utils.translation import get_language_from_request


def socket_language(scope: dict) -> str:
    """
    Return the language a socket's people read: the one its page was served
    in, negotiated as LocaleMiddleware does for pages (Django's language
    cookie, then Accept-Language, then LANGUAGE_CODE), from the handshake's
    cookies and headers.
    """
    request = HttpRequest()
    # scope["cookies"]: the handshake's cookies (myproject/socket_gate.py).
    request.COOKIES = scope.get("cookies") or {}
    for name, value in scope.get("headers") or ():
        if name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
            break
    return get_language_from_request(request)
