"""
The per-user replay budget: the messages "sync" replays are counted against
the user, so that a storm of catch-ups (many sockets syncing a long thread
from 0) is paced, while a normal reconnect is never held. Out of budget, a
sync is held for a while and then answered "more" with nothing new and a
retry_after (docs/protocol.md, "Limits").
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from privatemessages import consumers, services, userlimits
from privatemessages.models import Message
from privatemessages.tests.realtime_fixtures import (
    drain,
    make_rt_user,
    open_chat,
    receive_until,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


def make_chat(stored: int) -> dict:
    anna, boris = make_rt_user("anna"), make_rt_user("boris")
    first = services.message_send_to_username(sender=anna, recipient_username="boris", text="0")
    now = timezone.now()
    Message.objects.bulk_create(
        Message(thread=first.thread, sender=boris, text=f"m{n}", created=now)
        for n in range(1, stored)
    )
    return {
        "thread": first.thread,
        "ids": list(
            Message.objects.filter(thread=first.thread).order_by("id").values_list("id", flat=True)
        ),
        "boris": boris,
        "anna_cookies": [session_cookie(anna) for _ in range(4)],
        "boris_cookie": session_cookie(boris),
    }


# In a thread that gives its database connection back (asyncio.to_thread would not).
amake_chat = database_sync_to_async(make_chat)
acreate = database_sync_to_async(services.message_create)


@pytest.fixture
def small_budget(settings, monkeypatch):
    """Pages of 10, a budget of 20 messages refilled at 40/s, held at most 0.2 s."""
    monkeypatch.setattr(consumers, "SYNC_LIMIT", 10)
    monkeypatch.setattr(userlimits, "REPLAY_MAX_WAIT", 0.2)
    settings.PRIVATEMESSAGES_USER_REPLAY_BURST = 20
    settings.PRIVATEMESSAGES_USER_REPLAY_RATE = 40


async def sync_all(comm, after: int = 0) -> tuple[list[dict], list[dict]]:
    """Sync as the browser does (again at once on "more"); return messages and synced frames."""
    messages, synced = [], []
    while True:
        await comm.send_json_to({"type": "sync", "after": after})
        frames = await receive_until(comm, "synced", timeout=30)
        messages += [f for f in frames if f["type"] == "message"]
        synced.append(frames[-1])
        after = frames[-1]["last_id"]
        if not frames[-1]["more"]:
            return messages, synced


async def test_a_normal_reconnect_is_never_held(transactional_db):
    """With the default budget, two tabs catching up on a few hundred messages at once
    get them at once and in full."""
    chat = await amake_chat(400)
    loop = asyncio.get_running_loop()
    started = loop.time()
    tabs = [
        (await open_chat(chat["thread"].pk, cookie, after=None))[0]
        for cookie in chat["anna_cookies"][:2]
    ]
    results = await asyncio.gather(*(sync_all(tab) for tab in tabs))
    assert loop.time() - started < 5
    for messages, synced in results:
        assert len(messages) == 400
        assert [s.get("retry_after") for s in synced] == [None]
    for tab in tabs:
        await tab.disconnect()


async def test_out_of_budget_a_sync_answers_more_with_nothing_new(
    transactional_db, settings, small_budget
):
    """Past the budget and the wait, the answer is "synced" with "more", the last id
    the client had, no messages, and retry_after; asked again later, it goes on."""
    settings.PRIVATEMESSAGES_USER_REPLAY_BURST = 10
    settings.PRIVATEMESSAGES_USER_REPLAY_RATE = 20
    chat = await amake_chat(30)
    comm, frames = await open_chat(chat["thread"].pk, chat["anna_cookies"][0], after=0)
    assert len(frames) == 11
    last = frames[-1]["last_id"]
    # Ten tokens spent: the next page needs one back (0.05 s), within the wait.
    await comm.send_json_to({"type": "sync", "after": last})
    frames = await receive_until(comm, "synced")
    assert len(frames) == 11
    assert "retry_after" not in frames[-1]
    # Now 10 in debt: 0.55 s to a token, longer than the 0.2 s a sync is held.
    last = frames[-1]["last_id"]
    await comm.send_json_to({"type": "sync", "after": last})
    frames = await receive_until(comm, "synced")
    assert len(frames) == 1
    assert frames[0]["last_id"] == last
    assert frames[0]["more"] is True
    assert 0.3 < frames[0]["retry_after"] <= 0.6
    await asyncio.sleep(frames[0]["retry_after"])
    messages, _ = await sync_all(comm, last)
    assert len(messages) == 10
    await comm.disconnect()


async def storm_sync(comm, got: list[dict]) -> None:
    """Sync from 0 to the end as the browser does, adding each message to *got*."""
    after = 0
    while True:
        await comm.send_json_to({"type": "sync", "after": after})
        frames = await receive_until(comm, "synced", timeout=30)
        got += [f for f in frames if f["type"] == "message"]
        after = frames[-1]["last_id"]
        if not frames[-1]["more"]:
            return


async def test_a_storm_of_catch_ups_is_paced_and_others_are_not(transactional_db, small_budget):
    """Four sockets of one user syncing a thread from 0 at once get about the budget
    (burst + rate x time, plus a page of debt each), each message once and in order;
    another user's sync meanwhile is not held."""
    chat = await amake_chat(200)
    loop = asyncio.get_running_loop()
    tabs = [(await open_chat(chat["thread"].pk, c, after=None))[0] for c in chat["anna_cookies"]]
    got: list[list[dict]] = [[] for _ in tabs]
    started = loop.time()
    storm = [asyncio.ensure_future(storm_sync(tab, got[n])) for n, tab in enumerate(tabs)]
    await asyncio.sleep(0.3)
    boris, _ = await open_chat(chat["thread"].pk, chat["boris_cookie"], after=None)
    boris_started = loop.time()
    boris_messages, _ = await sync_all(boris, chat["ids"][-11])
    assert loop.time() - boris_started < 1
    assert len(boris_messages) == 10
    await asyncio.sleep(max(0, started + 1.0 - loop.time()))
    elapsed = loop.time() - started
    for task in storm:
        task.cancel()
    await asyncio.gather(*storm, return_exceptions=True)
    replayed = sum(len(messages) for messages in got)
    # Unpaced, the four would have had all 800 by now.
    assert 20 <= replayed <= 20 + 40 * elapsed + 4 * 10
    for messages in got:
        ids = [m["id"] for m in messages]
        assert ids == sorted(set(ids))
    for comm in [*tabs, boris]:
        await comm.disconnect()


async def test_live_messages_wait_until_the_catch_up_ends(transactional_db, monkeypatch):
    """During a catch-up in pages a new message is not sent live (nor the gap before
    it): the following syncs bring it, in order, once; after the catch-up it is live."""
    monkeypatch.setattr(consumers, "SYNC_LIMIT", 2)
    chat = await amake_chat(5)
    comm, frames = await open_chat(chat["thread"].pk, chat["anna_cookies"][0], after=0)
    assert frames[-1]["more"] is True
    new = await acreate(sender=chat["boris"], thread=chat["thread"], text="новое")
    assert await drain(comm, 0.3) == []
    messages, synced = await sync_all(comm, frames[-1]["last_id"])
    assert [m["text"] for m in messages] == ["m2", "m3", "m4", "новое"]
    assert synced[-1]["last_id"] == new.pk
    live = await acreate(sender=chat["boris"], thread=chat["thread"], text="живое")
    frames = await drain(comm, 0.3)
    assert [(f["type"], f["id"]) for f in frames] == [("message", live.pk)]
    await comm.disconnect()


async def test_a_held_sync_holds_up_nothing_else(
    transactional_db, settings, monkeypatch, small_budget
):
    """While a sync waits for the budget the socket answers other frames, and closing
    it frees its place among the user's sockets at once."""
    monkeypatch.setattr(userlimits, "REPLAY_MAX_WAIT", 5.0)
    settings.PRIVATEMESSAGES_USER_REPLAY_BURST = 10
    settings.PRIVATEMESSAGES_USER_REPLAY_RATE = 0.5
    settings.PRIVATEMESSAGES_USER_MAX_SOCKETS = 1
    chat = await amake_chat(30)
    comm, frames = await open_chat(chat["thread"].pk, chat["anna_cookies"][0], after=0)
    assert frames[-1]["more"] is True  # the budget is spent: 2 s to a token
    await comm.send_json_to({"type": "sync", "after": frames[-1]["last_id"]})
    await comm.send_json_to({"type": "ping"})
    assert await receive_until(comm, "pong", timeout=1) == [{"type": "pong"}]
    await comm.disconnect()
    again, _ = await open_chat(chat["thread"].pk, chat["anna_cookies"][0], after=None)
    await again.send_json_to({"type": "ping"})
    assert await receive_until(again, "pong", timeout=1) == [{"type": "pong"}]
    await again.disconnect()
