"""
Asking a skill that runs elsewhere: one POST of the request to the admin-set webhook URL,
standard library HTTP, never retried (a retry could advance the dialog twice).

The URL is checked when an admin saves it and again at every call: https only (http when
SKILLCHAT_ALLOW_HTTP_WEBHOOKS), and no address of the site's own networks (loopback,
private, link-local, shared, reserved, multicast) unless SKILLCHAT_ALLOW_INTERNAL_WEBHOOKS.
The host is resolved once, every address it resolves to is checked, and the connection
goes to the checked address: DNS cannot answer the check with one address and the
connection with another (rebinding).
"""

import http.client
import ipaddress
import json
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from .conf import app_settings


class WebhookRefused(ValueError):
    """A webhook URL this site does not call."""


class WebhookFailed(Exception):
    """The webhook gave no usable answer (timeout, connection, status, body)."""


def check_url(url: str) -> tuple[str, str, int, str]:
    """
    Return the (scheme, host, port, path with query) of *url*, or raise WebhookRefused for
    a scheme that is not allowed or a URL without a host.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"not a URL: {exc}") from None
    allowed = ("https", "http") if app_settings.ALLOW_HTTP_WEBHOOKS else ("https",)
    if parts.scheme not in allowed:
        raise WebhookRefused(f"the scheme must be {' or '.join(allowed)}")
    if not parts.hostname:
        raise WebhookRefused("the URL has no host")
    if parts.username or parts.password:
        raise WebhookRefused("the URL must not carry credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def is_internal(address: str) -> bool:
    """Whether *address* (an IP) is one of the site's own networks' rather than the internet's."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve_checked(host: str, port: int) -> str:
    """
    Return the address to connect to for *host*: every address it resolves to must be
    public (unless internal ones are allowed), else WebhookRefused.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookRefused(f"the host {host!r} does not resolve: {exc}") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise WebhookRefused(f"the host {host!r} has no address")
    if not app_settings.ALLOW_INTERNAL_WEBHOOKS:
        internal = [address for address in addresses if is_internal(address)]
        if internal:
            raise WebhookRefused(f"the host {host!r} is an internal address ({internal[0]})")
    return addresses[0]


def check_webhook(url: str) -> None:
    """Raise WebhookRefused unless this site would call *url* (the admin form's check)."""
    _, host, port, _ = check_url(url)
    resolve_checked(host, port)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address, speaking to the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; the certificate is checked for the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def call_webhook(url: str, request: dict[str, Any], *, timeout: float) -> Any:
    """
    POST *request* to *url* and return the parsed JSON answer; raise WebhookRefused for a
    URL not allowed and WebhookFailed for anything else (timeout, status other than 200,
    a body too large or not JSON). Once only.
    """
    scheme, host, port, path = check_url(url)
    address = resolve_checked(host, port)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address, timeout)
    body = json.dumps(request, ensure_ascii=False).encode()
    limit = app_settings.WEBHOOK_MAX_BYTES
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        response = connection.getresponse()
        if response.status != 200:
            raise WebhookFailed(f"the webhook answered HTTP {response.status}")
        data = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise WebhookFailed(f"the webhook did not answer: {exc!r}") from None
    finally:
        connection.close()
    if len(data) > limit:
        raise WebhookFailed(f"the webhook's answer is over {limit} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise WebhookFailed("the webhook's answer is not JSON") from None
