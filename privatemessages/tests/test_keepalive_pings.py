"""
The keepalive's WebSocket pings (base_consumer.BaseConsumer.keepalive and
deploy/ws_protocol.py), on a real server process as deployed, visiting every
second: each visit pings the socket, a peer that answers stays connected, and
one that stays silent is closed at the visit after its unanswered ping, with
code 1011, as uvicorn closes one whose pong is late.

The client here is websockets' sans-I/O protocol over a plain TCP connection,
so that the test decides whether a ping gets its pong (a browser always sends
one, and has no way not to).
"""

import asyncio
import contextlib
import time

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from privatemessages import services
from privatemessages.tests.realtime_fixtures import make_rt_user, session_cookie

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]


class RawClient:
    """One WebSocket: the pings it got, when it got them, and how it was closed."""

    def __init__(self, url: str, origin: str, cookie: str, *, answers_pings: bool) -> None:
        self.protocol = ClientProtocol(parse_uri(url), origin=origin)
        self.request = self.protocol.connect()
        self.request.headers["Cookie"] = cookie
        self.answers_pings = answers_pings
        self.pings: list[float] = []
        self.texts: list[str] = []
        self.close_code: int | None = None
        self.close_reason = ""

    async def run(self, host: str, port: int, seconds: float) -> None:
        """Connect, then read for *seconds* or until the server closes the socket."""
        reader, writer = await asyncio.open_connection(host, port)
        self.protocol.send_request(self.request)
        self.write(writer)
        try:
            async with asyncio.timeout(seconds):
                while self.close_code is None:
                    data = await reader.read(65536)
                    if not data:
                        break
                    self.protocol.receive_data(data)
                    self.take(self.protocol.events_received())
                    # A pong is queued for each ping received: sent only if asked.
                    if self.answers_pings or self.close_code is not None:
                        self.write(writer)
                    else:
                        self.protocol.data_to_send()
        except TimeoutError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def take(self, events: list) -> None:
        for event in events:
            if isinstance(event, Response):
                assert event.status_code == 101, event
            elif event.opcode is Opcode.PING:
                self.pings.append(time.monotonic())
            elif event.opcode is Opcode.TEXT:
                self.texts.append(event.data.decode())
            elif event.opcode is Opcode.CLOSE:
                self.close_code = self.protocol.close_rcvd.code
                self.close_reason = self.protocol.close_rcvd.reason

    def write(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"".join(self.protocol.data_to_send()))


@pytest.fixture
def quick_site(start_servers):
    (server,) = start_servers(PRIVATEMESSAGES_KEEPALIVE_EVERY="1")
    return server


@pytest.mark.parametrize("path", ["/ws/messages/", "/ws/messages/{thread}/"])
async def test_each_visit_pings_and_a_silent_peer_is_closed_at_the_next(quick_site, path):
    anna, boris = await asyncio.to_thread(lambda: (make_rt_user(), make_rt_user()))

    def start_thread():
        message = services.message_send_to_username(
            sender=anna, recipient_username=boris.username, text="Привет"
        )
        return message.thread.pk, session_cookie(anna)

    thread, cookie = await asyncio.to_thread(start_thread)
    url = f"{quick_site.ws_url}{path.format(thread=thread)}"
    answering = RawClient(url, quick_site.http_url, cookie, answers_pings=True)
    silent = RawClient(url, quick_site.http_url, cookie, answers_pings=False)

    started = time.monotonic()
    await asyncio.gather(
        answering.run("127.0.0.1", quick_site.port, seconds=5),
        silent.run("127.0.0.1", quick_site.port, seconds=10),
    )

    # The one that answers is pinged at every visit and stays open.
    assert answering.close_code is None
    assert len(answering.pings) >= 3
    # The silent one is pinged once, then closed at the next visit.
    assert len(silent.pings) == 1
    assert silent.close_code == 1011
    assert silent.close_reason == "keepalive ping timeout"
    assert time.monotonic() - started < 10
