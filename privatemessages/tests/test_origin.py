"""
The WebSocket origin check (myproject.websocket_handshake): a socket opens
only from the site's own origin (scheme, host and port) or a trusted one,
through the site's real ASGI application and through a real server.
"""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.middleware.csrf import CsrfViewMiddleware
from django.test import RequestFactory
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from myproject.websocket_handshake import handshake_request, origin_refusal
from privatemessages import consumers
from privatemessages.tests.realtime_fixtures import TIMEOUT, needs_real_services
from privatemessages.tests.servers import ServerProcess, free_port, server_env

pytestmark = pytest.mark.django_db(transaction=True)

SITE_HOST = "127.0.0.1:8000"
SITE_ORIGIN = "http://127.0.0.1:8000"


def handshake(path="/ws/messages/", *, origin=None, host=None, headers=(), **scope):
    """
    Return a communicator for a handshake to *path* on the site's ASGI
    application, with the given Origin and Host headers and scope keys
    (such as ``scheme="wss"``).
    """
    from myproject.asgi import application

    sent = [(name.encode(), value.encode()) for name, value in headers]
    if origin is not None:
        sent.append((b"origin", origin.encode()))
    if host is not None:
        sent.append((b"host", host.encode()))

    async def app(asgi_scope, receive, send):
        await application({**asgi_scope, **scope}, receive, send)

    return WebsocketCommunicator(app, path, headers=sent)


async def opens(comm) -> bool:
    connected, _ = await comm.connect(timeout=TIMEOUT)
    await comm.disconnect()
    return connected


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9555",  # another port of the same host
        "https://127.0.0.1",  # another scheme
        "http://localhost:9555",  # another allowed host, another port
        "http://[::1]:1234",
        "http://localhost:8000",  # another allowed host, same port
        "http://127.0.0.1",  # the default port is another port
        "http://evil.example.com",
        "null",  # sandboxed frames and file: pages
        "",
    ],
)
async def test_an_origin_other_than_the_sites_own_is_refused(origin):
    assert not await opens(handshake(origin=origin, host=SITE_HOST))


async def test_the_sites_own_origin_is_accepted():
    assert await opens(handshake(origin=SITE_ORIGIN, host=SITE_HOST))


async def test_the_chat_socket_is_guarded_too():
    comm = handshake("/ws/messages/1/", origin="http://127.0.0.1:9555", host=SITE_HOST)
    assert not await opens(comm)


async def test_a_missing_origin_is_refused():
    assert not await opens(handshake(host=SITE_HOST))


async def test_a_host_outside_allowed_hosts_is_refused_even_as_its_own_origin():
    assert not await opens(handshake(origin="http://evil.example.com", host="evil.example.com"))


async def test_over_tls_only_the_https_origin_is_accepted(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    secure = {"host": "chat.example.com", "scheme": "wss"}
    assert await opens(handshake(origin="https://chat.example.com", **secure))
    assert not await opens(handshake(origin="http://chat.example.com", **secure))


async def test_a_proxys_forwarded_scheme_counts_when_the_project_trusts_it(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    forwarded = {"host": "chat.example.com", "headers": [("x-forwarded-proto", "https")]}
    # Not trusted: the server saw plain ws, so the page's origin is http.
    assert not await opens(handshake(origin="https://chat.example.com", **forwarded))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await opens(handshake(origin="https://chat.example.com", **forwarded))
    assert not await opens(handshake(origin="http://chat.example.com", **forwarded))


async def test_csrf_trusted_origins_are_accepted_exactly_or_by_subdomain(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    host = "chat.example.com"
    assert await opens(handshake(origin="https://app.example.com", host=host))
    assert await opens(handshake(origin="https://a.example.org", host=host))
    assert await opens(handshake(origin="https://example.org", host=host))
    assert not await opens(handshake(origin="http://app.example.com", host=host))
    assert not await opens(handshake(origin="https://app.example.com:8443", host=host))
    assert not await opens(handshake(origin="http://a.example.org", host=host))
    assert not await opens(handshake(origin="https://example.org.evil.com", host=host))


async def test_a_trusted_origin_does_not_excuse_a_disallowed_host(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert not await opens(handshake(origin="https://app.example.com", host="evil.example.com"))


async def test_without_a_host_header_the_origins_host_must_be_allowed():
    """Only non-browser clients omit Host: the Origin's host and scheme are still checked."""
    assert await opens(handshake(origin="http://127.0.0.1"))
    assert not await opens(handshake(origin="http://evil.example.com"))
    assert not await opens(handshake(origin="https://127.0.0.1"))


@pytest.mark.parametrize(
    ("origin", "secure"),
    [
        (SITE_ORIGIN, False),
        ("https://127.0.0.1:8000", False),
        ("https://127.0.0.1:8000", True),
        (SITE_ORIGIN, True),
        ("http://localhost:8000", False),
        ("https://app.example.com", False),
        ("https://app.example.com", True),
        ("https://b.example.org", True),
        ("https://b.example.org:444", True),
        ("http://b.example.org", False),
        ("null", False),
    ],
)
def test_the_verdict_is_djangos_csrf_origin_verdict(settings, origin, secure):
    """For an allowed Host, the handshake gets the answer a form POST would."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    scope = {
        "type": "websocket",
        "path": "/ws/messages/",
        "scheme": "wss" if secure else "ws",
        "headers": [(b"host", SITE_HOST.encode()), (b"origin", origin.encode())],
    }
    post = RequestFactory().post("/", secure=secure, HTTP_HOST=SITE_HOST, HTTP_ORIGIN=origin)
    django_verdict = CsrfViewMiddleware(lambda request: None)._origin_verified(post)
    assert (origin_refusal(handshake_request(scope)) is None) == django_verdict


@needs_real_services()
@pytest.mark.servers
async def test_a_real_server_answers_403_to_a_page_of_another_port(tmp_path):
    server = ServerProcess(free_port(), tmp_path, server_env())
    await asyncio.to_thread(server.start)
    try:
        other_port = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{server.ws_url}/ws/messages/", origin=other_port):
                pass
        assert refused.value.response.status_code == 403
        async with connect(f"{server.ws_url}/ws/messages/", origin=server.http_url) as ws:
            # Accepted; anonymous, so the consumer then closes with its own code.
            await ws.wait_closed()
            assert ws.close_code == consumers.CLOSE_UNAUTHENTICATED
    finally:
        await asyncio.to_thread(server.stop)
    assert "refused" in server.log_tail()
    assert "Traceback" not in server.log_tail()
