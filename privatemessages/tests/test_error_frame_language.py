"""
An error frame's ``detail`` is in the socket's language, worked out at the
handshake as for a page (Django's language cookie, then Accept-Language,
then Russian); its ``code`` never changes. Over real WebSockets to a real
server process (on the embedded defaults too: one process, a SQLite file).
"""

import asyncio
import json

import pytest
from django.conf import settings
from websockets.asyncio.client import connect

from privatemessages import services
from privatemessages.tests.realtime_fixtures import make_rt_user, session_cookie
from privatemessages.tests.servers import ServerProcess, free_port, server_env

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, tmp_path):
    server = ServerProcess(free_port(), tmp_path, server_env())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chat(transactional_db):
    anna = make_rt_user()
    boris = make_rt_user()
    first = services.message_send_to_username(
        sender=anna, recipient_username=boris.username, text="Привет"
    )
    return {"thread_id": first.thread_id, "cookie": session_cookie(anna)}


async def error_frame(server, path: str, cookie: str, frame: str, **headers) -> dict:
    """Send *frame* on a socket to *path*; return the error frame it is answered with."""
    async with connect(
        f"{server.ws_url}{path}",
        origin=server.http_url,
        additional_headers={"Cookie": cookie, **headers},
        open_timeout=10,
        close_timeout=1,
    ) as ws:
        await ws.send(frame)
        async with asyncio.timeout(10):
            while True:
                answer = json.loads(await ws.recv())
                if answer["type"] == "error":
                    return answer


# (language cookie, Accept-Language, the detail): one server for all (a start costs seconds).
NEGOTIATION = [
    (None, None, "Кадр не является JSON."),
    (None, "de-DE,de;q=0.9", "Кадр не является JSON."),
    (None, "en-US,en;q=0.9", "The frame is not JSON."),
    ("en", "ru-RU,ru;q=0.9", "The frame is not JSON."),
    ("ru", "en-US,en;q=0.9", "Кадр не является JSON."),
]


async def test_the_detail_speaks_the_sockets_language(server, chat):
    for language_cookie, accept_language, detail in NEGOTIATION:
        cookie = chat["cookie"]
        if language_cookie:
            cookie += f"; {settings.LANGUAGE_COOKIE_NAME}={language_cookie}"
        headers = {"Accept-Language": accept_language} if accept_language else {}
        answer = await error_frame(server, "/ws/messages/", cookie, "not json {", **headers)
        assert answer == {"type": "error", "code": "invalid_json", "detail": detail}


async def test_a_refused_message_is_explained_in_english_with_the_same_code(server, chat):
    cookie = f"{chat['cookie']}; {settings.LANGUAGE_COOKIE_NAME}=en"
    path = f"/ws/messages/{chat['thread_id']}/"
    empty = json.dumps({"type": "message", "text": "   ", "client_id": "c-1"})
    answer = await error_frame(server, path, cookie, empty)
    assert answer == {
        "type": "error",
        "code": "empty",
        "detail": "The message cannot be empty.",
        "client_id": "c-1",
    }
    long = json.dumps({"type": "message", "text": "x" * 10_001, "client_id": "c-2"})
    answer = await error_frame(server, path, cookie, long)
    assert (answer["code"], answer["detail"]) == (
        "too_long",
        "The message is longer than 10000 characters (10001).",
    )
    russian = await error_frame(server, path, chat["cookie"], empty)
    assert (russian["code"], russian["detail"]) == ("empty", "Сообщение не может быть пустым.")
