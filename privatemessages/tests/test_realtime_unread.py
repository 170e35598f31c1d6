"""
Unread counts and presence across two real server processes sharing
PostgreSQL and Redis: counts stay exact while messages and reads arrive
through both, and a user with tabs on both stays online until the last
active one goes.
"""

import asyncio
import json
import random

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect

from privatemessages import services
from privatemessages.models import Membership
from privatemessages.tests.realtime_fixtures import (
    REAL_SERVERS_MARKS,
    make_rt_user,
    session_cookie,
)
from privatemessages.tests.test_realtime_processes import UNLIMITED
from privatemessages.tests.test_unread import assert_exact

pytestmark = REAL_SERVERS_MARKS


@pytest.fixture
def people(transactional_db):
    anna, boris, carol = (make_rt_user(name) for name in ("anna", "boris", "carol"))
    with_anna = services.message_send_to_username(
        sender=anna, recipient_username="boris", text="a"
    ).thread
    with_carol = services.message_send_to_username(
        sender=carol, recipient_username="boris", text="c"
    ).thread
    return {
        "users": (anna, boris, carol),
        "threads": (with_anna, with_carol),
        "cookies": {user.username: session_cookie(user) for user in (anna, boris, carol)},
    }


def open_socket(server, cookie, path):
    return connect(
        f"{server.ws_url}{path}",
        origin=server.http_url,
        additional_headers={"Cookie": cookie},
        open_timeout=5,
        max_queue=None,
    )


async def frames_of(ws, kind, timeout=10.0):
    """The next frame of *kind* on *ws*, skipping others."""
    async with asyncio.timeout(timeout):
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == kind:
                return frame
    raise AssertionError(f"closed before a {kind} frame")


async def test_counts_stay_exact_with_sends_and_reads_on_two_processes(people, start_servers):
    one, two = start_servers(2, **UNLIMITED)
    anna, boris, carol = people["users"]
    with_anna, with_carol = people["threads"]
    cookies = people["cookies"]

    async def write(server, who, thread, count):
        async with open_socket(server, cookies[who], f"/ws/messages/{thread.pk}/") as ws:
            for n in range(count):
                await ws.send(json.dumps({"type": "message", "text": f"{who} {n}"}))
            await ws.send(json.dumps({"type": "sync", "after": 0}))
            await frames_of(ws, "synced")

    async def read(server, thread, seed):
        rng = random.Random(seed)
        async with open_socket(server, cookies["boris"], f"/ws/messages/{thread.pk}/") as ws:
            await ws.send(json.dumps({"type": "sync", "after": 0}))
            seen = []
            async with asyncio.timeout(30):
                # The thread's first message and the writer's 60.
                while len(seen) < 61:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "message":
                        seen.append(frame["id"])
                        # Reads in any order: sometimes a late, older position.
                        position = rng.choice(seen[-4:])
                        await ws.send(json.dumps({"type": "read", "last_id": position}))

    await asyncio.gather(
        write(one, "anna", with_anna, 60),
        write(two, "carol", with_carol, 60),
        read(two, with_anna, 1),
        read(one, with_carol, 2),
    )
    await asyncio.sleep(0.5)
    await database_sync_to_async(assert_exact)(anna, boris, carol)
    # The reads did move boris's positions, in both threads.
    positions = await database_sync_to_async(
        lambda: list(Membership.objects.filter(user=boris).values_list("last_read_id", flat=True))
    )()
    assert all(position > 2 for position in positions), positions


async def test_presence_with_tabs_on_two_processes(people, start_servers):
    one, two = start_servers(2)
    _, boris, _ = people["users"]
    with_anna, _ = people["threads"]
    cookies = people["cookies"]
    path = f"/ws/messages/{with_anna.pk}/"

    async def boris_seen_by(ws) -> dict:
        await ws.send(json.dumps({"type": "sync", "after": 0}))
        return (await frames_of(ws, "presence"))["users"].get(str(boris.pk))

    async with open_socket(one, cookies["anna"], path) as watcher:
        await watcher.send(json.dumps({"type": "activity", "active": True}))
        tab_one = await open_socket(one, cookies["boris"], path)
        tab_two = await open_socket(two, cookies["boris"], "/ws/messages/")
        await tab_one.send(json.dumps({"type": "activity", "active": True}))
        await tab_two.send(json.dumps({"type": "activity", "active": True}))
        await asyncio.sleep(0.3)
        assert (await boris_seen_by(watcher))["online"] is True
        await tab_one.close()  # one of two tabs closes: still online
        await asyncio.sleep(0.3)
        assert (await boris_seen_by(watcher))["online"] is True
        await tab_two.close()
        await asyncio.sleep(0.3)
        seen = await boris_seen_by(watcher)
        assert seen["online"] is False
        assert seen["last_seen"] is not None
