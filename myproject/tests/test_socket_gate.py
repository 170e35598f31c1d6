"""
The WebSocket way in (myproject/socket_gate.py): origin check, cookies,
session, user, time zone and route in one ASGI application, giving consumers
the scope Channels' middleware stack gave them.
"""

import logging
import sys

import pytest
from channels.auth import logout
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.urls import path, re_path
from django.utils import timezone

import myproject.asgi  # noqa: F401  (sets Django up before caplog adds its handler)
from myproject.socket_gate import SocketGate
from privatemessages import consumers
from privatemessages.tests.realtime_fixtures import (
    ORIGIN,
    TIMEOUT,
    communicator,
    make_rt_user,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


class Probe(AsyncWebsocketConsumer):
    """Accepts, and records what the consumer sees when it connects."""

    seen: list[dict] = []

    async def connect(self) -> None:
        callers = []
        frame = sys._getframe()
        while frame is not None and len(callers) < 8:
            callers.append(frame.f_code.co_qualname)
            frame = frame.f_back
        Probe.seen.append(
            {
                "scope": self.scope,
                "zone": timezone.get_current_timezone_name(),
                "callers": callers,
            }
        )
        await self.accept()


GATE = SocketGate(
    [
        path("probe/<int:number>/", Probe.as_asgi()),
        re_path(r"^word/(\w+)/$", Probe.as_asgi()),
        path("defaults/", Probe.as_asgi(), {"extra": "yes"}),
    ]
)


@pytest.fixture(autouse=True)
def fresh_probe():
    Probe.seen.clear()


async def probe(path: str, cookie: str | None = None, origin: str = ORIGIN, **scope) -> dict:
    """Open a socket on GATE to *path*; return what Probe saw (the socket accepted)."""
    headers = [(b"origin", origin.encode())]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))

    async def app(asgi_scope, receive, send):
        await GATE({**asgi_scope, **scope}, receive, send)

    comm = WebsocketCommunicator(app, path, headers=headers)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    await comm.disconnect()
    [seen] = Probe.seen
    return seen


async def refused(comm: WebsocketCommunicator) -> bool:
    """Whether *comm*'s handshake was refused (a server answers 403); the app ends cleanly."""
    connected, _ = await comm.connect(timeout=TIMEOUT)
    await comm.wait(timeout=TIMEOUT)
    return not connected


async def test_a_foreign_origin_is_refused_with_the_warning(caplog):
    # Another port of the site's own host.
    headers = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1:9555")]
    assert await refused(WebsocketCommunicator(GATE, "/probe/1/", headers=headers))
    assert Probe.seen == []
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "myproject.websocket_handshake"
    assert warning.getMessage() == (
        "WebSocket handshake to '/probe/1/' refused: Origin 'http://127.0.0.1:9555' is "
        "neither the site's own ('http://127.0.0.1') nor trusted"
    )


async def test_an_unrouted_path_is_refused_without_looking_up_the_user(caplog, monkeypatch):
    caplog.set_level(logging.INFO)

    async def no_lookup(scope):
        raise AssertionError("the user was looked up for an unrouted path")

    monkeypatch.setattr("myproject.socket_gate.get_user", no_lookup)
    comm = WebsocketCommunicator(GATE, "/probe/x/", headers=[(b"origin", ORIGIN.encode())])
    assert await refused(comm)
    assert Probe.seen == []
    assert any("no route for '/probe/x/'" in r.getMessage() for r in caplog.records)


async def test_an_anonymous_socket_gets_anonymous_user_and_an_empty_session():
    seen = await probe("/probe/1/")
    assert isinstance(seen["scope"]["user"], AnonymousUser)
    assert isinstance(seen["scope"]["session"], SessionBase)
    assert seen["scope"]["session"].session_key is None
    assert seen["scope"]["cookies"] == {}


async def test_a_signed_in_socket_gets_its_user_and_session():
    user = await database_sync_to_async(make_rt_user)()
    cookie = await database_sync_to_async(session_cookie)(user)
    seen = await probe("/probe/1/", f"{cookie}; other=1")
    scope = seen["scope"]
    # The model instance itself, as channels.auth.login() leaves it, not a lazy wrapper.
    assert type(scope["user"]) is type(user)
    assert scope["user"].pk == user.pk
    assert isinstance(scope["session"], SessionBase)
    assert scope["session"].session_key == cookie.split("=", 1)[1]
    assert scope["cookies"]["other"] == "1"
    # channels.auth works on the scope as it did under AuthMiddlewareStack.
    await logout(scope)
    assert isinstance(scope["user"], AnonymousUser)
    assert scope["session"].session_key is None


async def test_the_chat_consumers_get_the_signed_in_user_through_the_sites_application():
    user = await database_sync_to_async(make_rt_user)()
    cookie = await database_sync_to_async(session_cookie)(user)
    comm = communicator("/ws/messages/", cookie)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    await comm.disconnect()
    comm = communicator("/ws/messages/")
    await comm.connect(timeout=TIMEOUT)
    output = await comm.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": consumers.CLOSE_UNAUTHENTICATED}


@pytest.mark.parametrize(
    ("cookie", "zone"),
    [
        ("timezone=Asia/Tokyo", "Asia/Tokyo"),
        ("timezone=Not/AZone", settings.TIME_ZONE),
        (None, settings.TIME_ZONE),
    ],
)
async def test_the_cookies_zone_is_active_in_the_consumer_and_only_there(cookie, zone):
    seen = await probe("/probe/1/", cookie)
    assert seen["zone"] == zone
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


@pytest.mark.parametrize(
    ("path", "url_route"),
    [
        ("/probe/42/", {"args": (), "kwargs": {"number": 42}}),
        ("/word/hello/", {"args": ("hello",), "kwargs": {}}),
        ("/defaults/", {"args": (), "kwargs": {"extra": "yes"}}),
    ],
)
async def test_url_route_as_channels_url_router_gives_it(path, url_route):
    scope = (await probe(path))["scope"]
    assert scope["url_route"] == url_route
    assert scope["path_remaining"] == ""
    assert scope["path"] == path


async def test_the_path_is_routed_below_root_path():
    scope = (await probe("/chat/probe/7/", root_path="/chat"))["scope"]
    assert scope["url_route"]["kwargs"] == {"number": 7}


async def test_a_path_outside_root_path_is_an_error_as_under_url_router():
    async def app(scope, receive, send):
        await GATE({**scope, "root_path": "/chat"}, receive, send)

    comm = WebsocketCommunicator(app, "/probe/7/", headers=[(b"origin", ORIGIN.encode())])
    with pytest.raises(ValueError, match="No route found"):
        await comm.connect(timeout=TIMEOUT)


async def test_no_middleware_frame_between_the_gate_and_the_consumer():
    """The point of the gate: one frame per idle socket, not one per middleware."""
    callers = (await probe("/probe/1/"))["callers"]
    # connect <- websocket_connect <- dispatch <- ... <- AsyncConsumer.__call__ <- the gate
    consumer_call = callers.index("AsyncConsumer.__call__")
    assert callers[consumer_call + 1] == "SocketGate.__call__"
