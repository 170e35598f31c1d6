"""
The end of a session and the per-user limits across two real server
processes sharing PostgreSQL and Redis, with real sockets and session cookies.

Needs REDIS_URL and a PostgreSQL DATABASE_URL (skipped without them, except
under CI, where they are set).
"""

import asyncio
import contextlib
import json
import time
import urllib.request

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from privatemessages import consumers, services
from privatemessages.models import Message
from privatemessages.tests.realtime_fixtures import (
    REAL_SERVERS_MARKS,
    make_rt_user,
    session_cookie,
)
from privatemessages.tests.servers import ServerProcess

pytestmark = REAL_SERVERS_MARKS


@pytest.fixture
def pair(transactional_db):
    anna, boris = make_rt_user("anna"), make_rt_user("boris")
    first = services.message_send_to_username(sender=anna, recipient_username="boris", text="0")
    return {
        "anna": anna,
        "thread": first.thread,
        "first": first,
        "laptop": session_cookie(anna),
        "phone": session_cookie(anna),
        "boris": session_cookie(boris),
    }


@contextlib.asynccontextmanager
async def chat_socket(server: ServerProcess, thread_id: int, cookie: str):
    async with connect(
        f"{server.ws_url}/ws/messages/{thread_id}/",
        origin=server.http_url,
        additional_headers={"Cookie": cookie},
        open_timeout=10,
        close_timeout=1,
    ) as ws:
        yield ws


async def close_code(ws, timeout: float) -> int | None:
    """Return the code *ws* is closed with within *timeout* s, reading past other frames."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    return ws.close_code


async def frames_for(ws, seconds: float) -> list[dict]:
    """Return the frames *ws* receives in the next *seconds*."""
    frames = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frames.append(json.loads(await ws.recv()))
    return frames


async def answers_ping(ws) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    async with asyncio.timeout(5):
        while True:
            if json.loads(await ws.recv())["type"] == "pong":
                return True


def post_logout(server: ServerProcess, cookie: str) -> int:
    """Log out through *server*'s HTTP with the session of *cookie*, as a browser does."""
    token = "a" * 32  # any well-formed token: the CSRF check compares cookie and header
    request = urllib.request.Request(
        f"{server.http_url}/accounts/logout/",
        method="POST",
        headers={
            "Cookie": f"{cookie}; csrftoken={token}",
            "X-CSRFToken": token,
            "Origin": server.http_url,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


async def test_logout_through_one_process_closes_that_sessions_sockets_on_every_process(
    pair, start_servers
):
    """Logging out through process B closes the session's sockets on A and B with 4401
    within a second; the user's other session keeps its socket."""
    one, two = start_servers(2)
    thread = pair["thread"].pk
    async with (
        chat_socket(one, thread, pair["laptop"]) as on_one,
        chat_socket(two, thread, pair["laptop"]) as on_two,
        chat_socket(one, thread, pair["phone"]) as phone,
    ):
        for ws in (on_one, on_two, phone):
            assert await answers_ping(ws)  # open, and in its groups
        started = time.monotonic()
        assert await asyncio.to_thread(post_logout, two, pair["laptop"]) == 200
        codes = await asyncio.gather(close_code(on_one, 2), close_code(on_two, 2))
        assert codes == [consumers.CLOSE_UNAUTHENTICATED] * 2
        assert time.monotonic() - started < 1.5  # the HTTP round trip included
        assert await answers_ping(phone)


async def test_a_password_change_closes_every_socket_of_the_user_on_every_process(
    pair, start_servers
):
    """A new password saved in the database (here, by this test's process) closes
    all of the user's sockets on both processes with 4401 within a second."""
    one, two = start_servers(2)
    thread = pair["thread"].pk
    async with (
        chat_socket(one, thread, pair["laptop"]) as laptop,
        chat_socket(two, thread, pair["phone"]) as phone,
        chat_socket(two, thread, pair["boris"]) as boris,
    ):
        for ws in (laptop, phone, boris):
            assert await answers_ping(ws)
        user = await database_sync_to_async(get_user_model().objects.get)(pk=pair["anna"].pk)
        await asyncio.to_thread(user.set_password, "новый-пароль-2026")
        started = time.monotonic()
        await database_sync_to_async(user.save)()
        codes = await asyncio.gather(close_code(laptop, 2), close_code(phone, 2))
        assert codes == [consumers.CLOSE_UNAUTHENTICATED] * 2
        assert time.monotonic() - started < 1
        assert await answers_ping(boris)


async def test_the_send_limit_holds_across_processes(pair, start_servers):
    """One user's sockets on two processes share one budget of messages."""
    servers = start_servers(
        2, PRIVATEMESSAGES_USER_SEND_RATE="1", PRIVATEMESSAGES_USER_SEND_BURST="5"
    )
    thread = pair["thread"].pk
    async with (
        chat_socket(servers[0], thread, pair["laptop"]) as a,
        chat_socket(servers[1], thread, pair["phone"]) as b,
    ):
        started = time.monotonic()
        for n in range(10):
            for name, ws in (("a", a), ("b", b)):
                await ws.send(
                    json.dumps(
                        {"type": "message", "text": f"{name}{n}", "client_id": f"{name}{n}"}
                    )
                )
        frames = await asyncio.gather(frames_for(a, 1.5), frames_for(b, 1.5))
        refused = [f["client_id"] for got in frames for f in got if f["type"] == "error"]
        elapsed = time.monotonic() - started
        saved = await database_sync_to_async(
            Message.objects.filter(thread=pair["thread"], sender=pair["anna"]).count
        )()
    assert 5 <= saved - 1 <= 5 + elapsed * 1 + 1
    # Each socket had its share refused, and every message was saved or refused.
    assert {client_id[0] for client_id in refused} == {"a", "b"}
    assert len(refused) == 20 - (saved - 1)


async def test_the_socket_limit_holds_across_processes(pair, start_servers):
    """The socket past PRIVATEMESSAGES_USER_MAX_SOCKETS, wherever it lands, closes
    with 4429; closing one on another process makes room."""
    one, two = start_servers(2, PRIVATEMESSAGES_USER_MAX_SOCKETS="2")
    thread = pair["thread"].pk
    async with chat_socket(one, thread, pair["laptop"]) as first:
        async with chat_socket(two, thread, pair["phone"]) as second:
            assert await answers_ping(first)
            assert await answers_ping(second)
            async with chat_socket(one, thread, pair["laptop"]) as third:
                assert await close_code(third, 5) == consumers.CLOSE_TOO_MANY_SOCKETS
        await asyncio.sleep(0.3)
        async with chat_socket(one, thread, pair["laptop"]) as fourth:
            assert await answers_ping(fourth)


async def test_a_lone_surrogate_client_id_gets_an_error_not_a_dead_connection(pair, start_servers):
    """Over a real server, a lone surrogate in client_id is answered with
    invalid_client_id and the connection stays open."""
    (one,) = start_servers(1)
    async with chat_socket(one, pair["thread"].pk, pair["laptop"]) as ws:
        await ws.send(json.dumps({"type": "message", "text": "привет", "client_id": "\ud800"}))
        async with asyncio.timeout(5):
            frame = json.loads(await ws.recv())
        assert (frame["code"], frame["client_id"]) == ("invalid_client_id", "\ud800")
        assert await answers_ping(ws)
