"""deploy/ws_protocol.py: uvicorn's WebSocket protocol as deployed, lighter on idle sockets,
behaving as uvicorn's own."""

import asyncio
import contextlib
import gc
import weakref

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from deploy.processes import free_port
from deploy.ws_protocol import LeanWebSocketsProtocol, ReceiveQueue, WritableFlag, text_frame


async def test_the_receive_queue_hands_items_over_in_order_and_waits_when_empty():
    queue = ReceiveQueue()
    assert queue.empty()
    assert queue.qsize() == 0
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [1, 2]
    assert queue.empty()

    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait(3)
    assert await getter == 3


async def test_a_cancelled_get_leaves_the_queue_working():
    queue = ReceiveQueue()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    queue.put_nowait("after")
    assert await queue.get() == "after"


async def test_the_writable_flag_holds_every_waiter_until_it_is_set():
    flag = WritableFlag()
    flag.set()
    await flag.wait()  # set: returns at once
    flag.clear()
    assert not flag.is_set()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    cancelled = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    cancelled.cancel()
    await asyncio.sleep(0)
    flag.set()
    await asyncio.gather(*waiters)
    assert cancelled.cancelled()


async def echo(scope, receive, send):
    """Accept, then send back every text frame until the client goes."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"]})


@contextlib.asynccontextmanager
async def lean_server(app=echo, **config):
    """An in-process uvicorn serving echo with the deployed protocol; yields its URL and
    the weak references to each handshake request it parsed."""
    requests = []

    class Watched(LeanWebSocketsProtocol):
        def handle_connect(self, event):
            requests.append(weakref.ref(event))
            super().handle_connect(event)

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=Watched, lifespan="off", log_level="warning", **config
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/", requests, server
    finally:
        server.should_exit = True
        await task


async def test_frames_go_both_ways_in_order_as_on_uvicorns_protocol():
    texts = ["один", "x" * 200_000, *map(str, range(50))]
    async with (
        lean_server() as (url, _, _server),
        connect(url, compression=None, max_size=None) as ws,
    ):
        for text in texts:
            await ws.send(text)
        assert [await ws.recv() for _ in texts] == texts
        # A message in fragments is put back together.
        await ws.send(iter(["раз", "два", "три"]))
        assert await ws.recv() == "раздватри"


async def test_the_handshake_is_let_go_once_answered():
    async with lean_server() as (url, requests, server), connect(url, compression=None) as ws:
        await ws.send("ping")
        assert await ws.recv() == "ping"
        gc.collect()
        (protocol,) = server.server_state.connections
        assert protocol.request is None
        assert protocol.response is None
        assert requests
        assert all(ref() is None for ref in requests)
        # And the socket still works after the parser was handed over.
        await ws.send("still here")
        assert await ws.recv() == "still here"


async def now_then_through_asgi(scope, receive, send):
    """Answer each frame twice, in order: at once (send_text_now), then through ASGI."""
    protocol = send.__self__
    assert (await receive())["type"] == "websocket.connect"
    assert not protocol.can_send_now()  # before the handshake
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            assert not protocol.can_send_now()
            return
        text = message["text"]
        if text == "pause":
            # A transport over its high-water mark: the ASGI send would wait.
            protocol.pause_writing()
            paused = protocol.can_send_now()
            protocol.resume_writing()
            text = f"paused: {paused}, resumed: {protocol.can_send_now()}"
        assert protocol.send_text_now(f"now {text}")
        await send({"type": "websocket.send", "text": f"asgi {text}"})


async def test_a_text_frame_goes_out_at_once_in_order_with_the_asgi_ones():
    async with (
        lean_server(now_then_through_asgi) as (url, _, _server),
        connect(url, compression=None) as ws,
    ):
        for text in ("один", "два"):
            await ws.send(text)
            assert [await ws.recv(), await ws.recv()] == [f"now {text}", f"asgi {text}"]
        await ws.send("pause")
        assert await ws.recv() == "now paused: False, resumed: True"


async def claims_pings_if_asked(scope, receive, send):
    """Claim the socket's pings before accepting if the path says so, then echo."""
    if scope["path"] == "/claimed":
        send.__self__.claim_pings()
    await echo(scope, receive, send)


async def test_a_socket_whose_pings_are_claimed_gets_none_of_uvicorns():
    async with (
        lean_server(claims_pings_if_asked, ws_ping_interval=0.05) as (url, _, server),
        connect(url + "claimed", compression=None) as claimed,
        connect(url, compression=None),
    ):
        await asyncio.sleep(0.3)
        await claimed.send("still here")
        assert await claimed.recv() == "still here"
        by_path = {p.scope["path"]: p for p in server.server_state.connections}
        # uvicorn's timers run for the other socket, and none for the claimed one.
        assert by_path["/"].ping_timer is not None or by_path["/"].pong_timer is not None
        assert by_path["/claimed"].ping_timer is None
        assert by_path["/claimed"].pong_timer is None


def test_a_text_frame_is_built_once_for_equal_texts_as_websockets_builds_it():
    for text in ("", "один", "я" * 100, "x" * 70_000):
        frame = text_frame(text)
        assert frame == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
        again = text_frame((text + ".")[:-1])  # an equal text, another object
        assert again == frame
        # The same bytes, unless the text is too long to keep.
        assert (again is frame) == (len(text) < 2**16)
    assert text_frame("другой") != frame


def relay_to_all(protocols: list):
    """Send each text frame that arrives to every open socket at once; each socket's
    pings claimed, and one queued when it opens, to leave with its first frame."""

    async def app(scope, receive, send):
        protocol = send.__self__
        assert (await receive())["type"] == "websocket.connect"
        protocol.claim_pings()
        await send({"type": "websocket.accept"})
        assert protocol.ping()
        protocols.append(protocol)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                protocols.remove(protocol)
                return
            for each in protocols:
                assert each.send_text_now(message["text"])

    return app


async def test_one_text_reaches_every_socket_whole_compressed_or_not_with_its_ping():
    protocols = []
    texts = ["", "один", "я" * 100, "x" * 70_000, "один"]
    async with (
        lean_server(relay_to_all(protocols)) as (url, _, _server),
        connect(url, compression=None, max_size=None) as first,
        connect(url, compression=None, max_size=None) as second,
        connect(url, max_size=None) as deflating,  # permessage-deflate, negotiated
    ):
        assert [bool(p.conn.extensions) for p in protocols] == [False, False, True]
        for text in texts:
            await first.send(text)
            for ws in (first, second, deflating):
                assert await ws.recv() == text
        # Each socket's ping went out and was answered (the clients answer by
        # themselves): a round trip of each client's own ping makes sure.
        for ws in (first, second, deflating):
            await (await ws.ping())
        assert not any(p.awaiting_pong for p in protocols)
