"""
The chat across real server processes: ASGI processes sharing PostgreSQL and
Redis, clients on real sockets with real session cookies.

Needs REDIS_URL and a PostgreSQL DATABASE_URL (skipped without them, except
under CI, where they are set).
"""

import asyncio
import urllib.request

import pytest
from channels.db import database_sync_to_async

from privatemessages import services
from privatemessages.models import Message
from privatemessages.tests.chat_client import ChatClient
from privatemessages.tests.realtime_fixtures import (
    REAL_SERVERS_MARKS,
    make_rt_user,
    needs_programs,
    session_cookie,
)
from privatemessages.tests.servers import Cluster, free_port, server_env

pytestmark = REAL_SERVERS_MARKS

# The load here is the test's, not an abuser's: lift the per-socket limit.
UNLIMITED = {"PRIVATEMESSAGES_WS_RATE": "100000", "PRIVATEMESSAGES_WS_BURST": "100000"}


@pytest.fixture
def pair(transactional_db):
    anna, boris = make_rt_user("anna"), make_rt_user("boris")
    first = services.message_send_to_username(sender=anna, recipient_username="boris", text="0")
    return {
        "thread": first.thread,
        "first": first,
        "anna": session_cookie(anna),
        "boris": session_cookie(boris),
    }


def client(server, pair, who: str, **kwargs) -> ChatClient:
    return ChatClient(
        server.ws_url,
        pair["thread"].pk,
        pair[who],
        origin=server.http_url,
        after=pair["first"].pk,
        name=who,
        **kwargs,
    ).start()


def stored(thread) -> list[tuple[int, str]]:
    return list(Message.objects.filter(thread=thread).order_by("id").values_list("id", "text")[1:])


async def _check(clients, thread, texts_by_sender):
    """Every client shows what the database holds, in id order, each message once."""
    rows = await database_sync_to_async(stored)(thread)
    expected_total = sum(len(texts) for texts in texts_by_sender.values())
    assert len(rows) == expected_total
    for sender, texts in texts_by_sender.items():
        # Each sender's messages are in the database once each, in sending order.
        assert [text for _, text in rows if text.startswith(sender)] == texts
    for chat in clients:
        assert chat.duplicates == []
        assert [(m["id"], m["text"]) for m in chat.shown] == rows
        assert chat.pending == {}


async def test_messages_cross_two_processes_exactly_once_in_order(pair, start_servers):
    one, two = start_servers(2, **UNLIMITED)
    anna, boris = client(one, pair, "anna"), client(two, pair, "boris")
    try:
        await anna.wait_for(lambda c: c.connects, 20)
        await boris.wait_for(lambda c: c.connects, 20)
        sent = {
            "anna": [f"anna {n}" for n in range(200)],
            "boris": [f"boris {n}" for n in range(200)],
        }

        async def send_all(chat, texts):
            for text in texts:
                await chat.send(text)

        await asyncio.gather(send_all(anna, sent["anna"]), send_all(boris, sent["boris"]))
        for chat in (anna, boris):
            await chat.wait_for(lambda c: len(c.shown) >= 400, 60)
        await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive by now
        await _check([anna, boris], pair["thread"], sent)
        # Each socket saw its own messages come back with their client_id.
        assert all(m["client_id"] for m in anna.shown if m["sender"] == "anna")
        assert not any(m["client_id"] for m in anna.shown if m["sender"] == "boris")
    finally:
        await anna.stop()
        await boris.stop()


async def test_restarting_a_process_loses_and_duplicates_nothing(pair, start_servers):
    (one,) = start_servers(**UNLIMITED)
    two_port = free_port()
    (two,) = start_servers(port=two_port, **UNLIMITED)
    anna = client(one, pair, "anna", resync_every=2)
    boris = client(two, pair, "boris", min_delay=0.1, max_delay=0.5, resync_every=2)
    try:
        await anna.wait_for(lambda c: c.connects, 20)
        await boris.wait_for(lambda c: c.connects, 20)
        sent = {
            "anna": [f"anna {n}" for n in range(150)],
            "boris": [f"boris {n}" for n in range(50)],
        }

        async def send_paced(chat, texts, pause):
            for text in texts:
                await chat.send(text)
                await asyncio.sleep(pause)

        async def crash_and_restart():
            await boris.wait_for(lambda c: len(c.shown) >= 40, 30)
            two.kill()
            await asyncio.sleep(0.5)
            # Boris types while his server is down: queued, sent after the reconnect.
            await asyncio.to_thread(two.start)

        await asyncio.gather(
            send_paced(anna, sent["anna"], 0.02),
            send_paced(boris, sent["boris"], 0.06),
            crash_and_restart(),
        )
        for chat in (anna, boris):
            await chat.wait_for(lambda c: len(c.shown) >= 200 and not c.pending, 60)
        await asyncio.sleep(0.5)
        assert boris.connects >= 2
        await _check([anna, boris], pair["thread"], sent)
    finally:
        await anna.stop()
        await boris.stop()


@needs_programs("nginx")
async def test_cluster_behind_nginx_carries_http_and_websockets(pair, transactional_db, tmp_path):
    cluster = Cluster(2, tmp_path, server_env(**UNLIMITED))
    await asyncio.to_thread(cluster.start)
    anna = boris = None
    try:
        anna, boris = client(cluster, pair, "anna"), client(cluster, pair, "boris")
        await anna.wait_for(lambda c: c.connects, 20)
        await boris.wait_for(lambda c: c.connects, 20)
        sent = {
            "anna": [f"anna {n}" for n in range(20)],
            "boris": [f"boris {n}" for n in range(20)],
        }
        for a_text, b_text in zip(sent["anna"], sent["boris"], strict=True):
            await anna.send(a_text)
            await boris.send(b_text)
        for chat in (anna, boris):
            await chat.wait_for(lambda c: len(c.shown) >= 40, 30)
        await _check([anna, boris], pair["thread"], sent)

        def get(path):
            with urllib.request.urlopen(f"{cluster.http_url}{path}", timeout=10) as response:
                return response.status, response.read()

        status, body = await asyncio.to_thread(get, "/accounts/login/")
        assert status == 200
        status, body = await asyncio.to_thread(get, "/static/privatemessages/socket.js")
        assert status == 200
        assert b"WebSocket" in body
    finally:
        for chat in (anna, boris):
            if chat is not None:
                await chat.stop()
        await asyncio.to_thread(cluster.stop)
