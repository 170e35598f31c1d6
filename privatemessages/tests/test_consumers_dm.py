"""
Reads, receipts, typing and presence over the chat sockets (docs/protocol.md,
"Read positions, unread counts, receipts, typing, presence"), through the
site's real ASGI stack, on whatever channel layer and presence store the
settings give (memory without REDIS_URL, Redis with it).
"""

import asyncio

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings

from privatemessages import events, presence, profiles, services, thread_heads
from privatemessages.models import ChatProfile, Membership
from privatemessages.tests.realtime_fixtures import (
    TIMEOUT,
    communicator,
    count_database_syncs,
    drain,
    make_rt_user,
    needs_redis,
    open_chat,
    receive,
    receive_until,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)

acreate = database_sync_to_async(services.message_create)


@database_sync_to_async
def member(thread, user) -> Membership:
    return Membership.objects.get(thread=thread, user=user)


@database_sync_to_async
def set_settings(user, **values):
    profiles.profile_update(user_id=user.pk, **values)


async def open_list(cookie):
    comm = communicator("/ws/messages/", cookie)
    assert (await comm.connect(timeout=TIMEOUT))[0]
    return comm


async def test_a_read_reaches_every_tab_of_the_reader_and_the_partners_chat(chat):
    thread, first = chat["thread"], chat["first"]
    boris_chat, frames = await open_chat(thread.pk, chat["cookies"]["boris"])
    # The resync tells the reader where they are: one unread message.
    assert frames[-1]["read"]["unread"] == 1
    assert frames[-1]["read"]["unread_total"] == 1
    boris_list = await open_list(chat["cookies"]["boris"])
    anna_chat, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=first.pk)

    await boris_chat.send_json_to({"type": "read", "last_id": first.pk})

    unread = await receive(boris_chat)
    assert unread["type"] == "unread"
    assert (unread["thread"], unread["unread"], unread["unread_total"]) == (thread.pk, 0, 0)
    assert unread["last_read_id"] == first.pk
    assert await receive(boris_list) == unread  # the other tab clears its badge too
    receipt = await receive(anna_chat)
    assert receipt == {
        "type": "read",
        "thread": thread.pk,
        "user_id": chat["boris"].pk,
        "last_read_id": first.pk,
    }
    assert (await member(thread, chat["boris"])).last_read_id == first.pk
    for comm in (boris_chat, boris_list, anna_chat):
        await comm.disconnect()


async def test_positions_never_move_back_and_reads_past_the_end_are_clamped(chat):
    thread, first = chat["thread"], chat["first"]
    second = await acreate(sender=chat["anna"], thread=thread, text="2")
    boris_chat, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=second.pk)

    # Far past the newest message: read up to the newest one, no further.
    await boris_chat.send_json_to({"type": "read", "last_id": second.pk + 1000})
    assert (await receive(boris_chat))["last_read_id"] == second.pk
    # An older read (a frame that arrived late) changes nothing and says nothing.
    await boris_chat.send_json_to({"type": "read", "last_id": first.pk})
    assert await drain(boris_chat, 0.3) == []
    assert (await member(thread, chat["boris"])).last_read_id == second.pk
    await boris_chat.disconnect()


@pytest.mark.parametrize("last_id", [0, -1, "5", 1.5, None, True, 2**63])
async def test_a_bad_read_is_refused(chat, last_id):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    await comm.send_json_to({"type": "read", "last_id": last_id})
    error = await receive(comm)
    assert (error["type"], error["code"]) == ("error", "invalid_read")
    await comm.disconnect()


@pytest.mark.parametrize("who_hides", ["reader", "viewer"])
async def test_receipts_off_on_either_side_hides_them(chat, who_hides):
    thread, first = chat["thread"], chat["first"]
    hider = chat["boris"] if who_hides == "reader" else chat["anna"]
    await set_settings(hider, send_receipts=False)
    boris_chat, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=first.pk)
    anna_chat, frames = await open_chat(thread.pk, chat["cookies"]["anna"], after=first.pk)
    assert frames[-1]["read"]["partners"] == {}

    await boris_chat.send_json_to({"type": "read", "last_id": first.pk})
    assert (await receive(boris_chat))["type"] == "unread"  # their own counts still move
    assert await drain(anna_chat, 0.3) == []
    for comm in (boris_chat, anna_chat):
        await comm.disconnect()


async def test_a_message_carries_the_receivers_counts_and_the_list_learns_them(chat):
    thread, first = chat["thread"], chat["first"]
    boris_chat, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=first.pk)
    boris_list = await open_list(chat["cookies"]["boris"])
    anna_chat, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=first.pk)

    await anna_chat.send_json_to({"type": "message", "text": "2", "client_id": "c2"})

    message = await receive(boris_chat)
    assert (message["type"], message["unread"], message["unread_total"]) == ("message", 2, 2)
    update = await receive(boris_list)
    assert (update["type"], update["unread"], update["unread_total"]) == ("thread", 2, 2)
    assert update["version"] == message["version"]
    assert update["partner_id"] == chat["anna"].pk
    # The chat page of the thread gets no thread frame for it: its message has the counts.
    assert await drain(boris_chat, 0.3) == []
    for comm in (boris_chat, boris_list, anna_chat):
        await comm.disconnect()


async def test_the_thread_list_resync_has_the_counts(chat):
    boris_list = await open_list(chat["cookies"]["boris"])
    await boris_list.send_json_to({"type": "sync"})
    threads = await receive(boris_list)
    assert threads["type"] == "threads"
    assert (threads["unread_total"], threads["more"]) == (1, False)
    [line] = threads["threads"]
    assert (line["unread"], line["partner_id"]) == (1, chat["anna"].pk)
    await boris_list.disconnect()


async def test_typing_reaches_the_partner_only_and_is_thinned(chat):
    thread, first = chat["thread"], chat["first"]
    anna_chat, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=first.pk)
    boris_chat, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=first.pk)

    await anna_chat.send_json_to({"type": "typing"})
    await anna_chat.send_json_to({"type": "typing"})  # within a second: dropped
    typing = await receive(boris_chat)
    assert typing == {
        "type": "typing",
        "thread": thread.pk,
        "user_id": chat["anna"].pk,
        "sender": "anna",
    }
    assert await drain(boris_chat, 0.3) == []
    assert await drain(anna_chat, 0.1) == []  # not echoed to the typist
    for comm in (anna_chat, boris_chat):
        await comm.disconnect()


async def test_typing_never_overtakes_a_message(chat):
    thread, first = chat["thread"], chat["first"]
    anna_chat, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=first.pk)
    boris_chat, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=first.pk)
    await anna_chat.send_json_to({"type": "message", "text": "раз", "client_id": "t1"})
    await anna_chat.send_json_to({"type": "typing"})
    frames = [await receive(boris_chat), await receive(boris_chat)]
    assert [frame["type"] for frame in frames] == ["message", "typing"]
    for comm in (anna_chat, boris_chat):
        await comm.disconnect()


async def presence_seen_by(comm) -> dict:
    await comm.send_json_to({"type": "sync", "after": 0})
    frames = await receive_until(comm, "presence")
    return frames[-1]["users"]


async def test_presence_holds_while_any_tab_is_active(chat):
    thread = chat["thread"]
    anna_chat, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=None)
    await anna_chat.send_json_to({"type": "activity", "active": True})
    boris_id = str(chat["boris"].pk)
    assert boris_id not in await presence_seen_by(anna_chat)  # never seen

    tab_one, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=None)
    tab_two = await open_list(chat["cookies"]["boris"])
    assert (await presence_seen_by(anna_chat))[boris_id]["online"] is True

    await tab_two.disconnect()
    assert (await presence_seen_by(anna_chat))[boris_id]["online"] is True

    # The last active tab goes hidden: offline, seen just now.
    await tab_one.send_json_to({"type": "activity", "active": False})
    await asyncio.sleep(0.2)
    seen = (await presence_seen_by(anna_chat))[boris_id]
    assert seen["online"] is False
    assert seen["last_seen"] is not None
    await tab_one.disconnect()
    await anna_chat.disconnect()


async def test_hidden_presence_is_neither_shown_nor_shown_to(chat):
    thread = chat["thread"]
    await set_settings(chat["boris"], show_presence=False)
    boris_chat, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=None)
    await boris_chat.send_json_to({"type": "activity", "active": True})
    anna_chat, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=None)
    await anna_chat.send_json_to({"type": "activity", "active": True})
    assert str(chat["boris"].pk) not in await presence_seen_by(anna_chat)
    # Boris sees nobody's: no presence frame at all after his sync.
    await boris_chat.send_json_to({"type": "sync", "after": 0})
    frames = await drain(boris_chat, 0.3)
    assert "presence" not in [frame["type"] for frame in frames]
    for comm in (anna_chat, boris_chat):
        await comm.disconnect()


async def test_an_old_client_gets_no_presence_frames(chat):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"], after=None)
    await comm.send_json_to({"type": "sync", "after": 0})
    frames = await drain(comm, 0.3)
    assert [frame["type"] for frame in frames][-1] == "synced"
    await comm.disconnect()


async def test_hiding_presence_applies_to_open_sockets_and_forgets_it(chat):
    thread = chat["thread"]
    boris_chat, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=None)
    anna_chat, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=None)
    await anna_chat.send_json_to({"type": "activity", "active": True})
    assert str(chat["boris"].pk) in await presence_seen_by(anna_chat)
    await set_settings(chat["boris"], show_presence=False)
    await asyncio.sleep(0.3)
    assert str(chat["boris"].pk) not in await presence_seen_by(anna_chat)
    for comm in (anna_chat, boris_chat):
        await comm.disconnect()


async def test_a_closing_socket_keeps_last_seen_in_the_database(chat):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"], after=None)
    await comm.disconnect()
    await asyncio.sleep(0.2)
    profile = await database_sync_to_async(ChatProfile.objects.get)(user=chat["boris"])
    assert profile.last_seen is not None


@pytest.mark.parametrize("frame", [{"type": "activity"}, {"type": "activity", "active": 1}])
async def test_a_bad_activity_frame_is_refused(chat, frame):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"], after=None)
    await comm.send_json_to(frame)
    assert (await receive(comm))["code"] == "invalid_activity"
    await comm.disconnect()


async def test_the_keepalive_sync_reads_no_counts(chat):
    comm, frames = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    assert "read" in frames[-1]  # the first sync restores the counts
    await comm.send_json_to({"type": "sync", "after": 0})
    [synced] = await receive_until(comm, "synced")
    assert "read" not in synced  # nothing new: nothing read from the database
    await comm.disconnect()


# The keepalive sync against the thread's head (thread_heads.py)


@needs_redis
async def test_a_keepalive_with_nothing_new_asks_no_database(chat, monkeypatch):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["boris"])
    calls = count_database_syncs(monkeypatch)
    for _ in range(3):
        await comm.send_json_to({"type": "sync", "after": 0})
        [synced] = await receive_until(comm, "synced")
        assert synced == {"type": "synced", "last_id": chat["first"].pk, "more": False}
    assert calls == []
    await comm.disconnect()


@needs_redis
async def test_a_lost_live_event_is_still_caught_by_the_keepalive(chat, monkeypatch):
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"])
    # The message's live event is lost (its group send fails); its head is noted.
    monkeypatch.setattr(events, "group_send_many", lambda sends, also=None: False)
    lost = await acreate(sender=chat["anna"], thread=thread, text="потерялось")
    assert await drain(comm, 0.3) == []
    await comm.send_json_to({"type": "sync", "after": 0})
    frames = await receive_until(comm, "synced")
    assert [frame.get("id") for frame in frames[:-1]] == [lost.pk]
    await comm.disconnect()


@needs_redis
async def test_a_presence_keepalive_reads_the_head_in_the_presence_round_trip(chat, monkeypatch):
    """A tab that is sent presence (chat.js): the head comes with the partner's presence,
    one Redis round trip a keepalive; a lost live event is still caught by it."""
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"])
    await comm.send_json_to({"type": "activity", "active": True})
    calls = count_database_syncs(monkeypatch)

    async def head_alone(*args):
        raise AssertionError("the head was read in a round trip of its own")

    monkeypatch.setattr(thread_heads, "head", head_alone)
    lookups = []
    real_lookup = presence.PresenceTracker.lookup_and_get

    async def counted_lookup(self, *args, **kwargs):
        lookups.append(kwargs["key"])
        return await real_lookup(self, *args, **kwargs)

    monkeypatch.setattr(presence.PresenceTracker, "lookup_and_get", counted_lookup)
    for _ in range(2):
        await comm.send_json_to({"type": "sync", "after": 0})
        *_, synced, shown = await receive_until(comm, "presence")
        assert synced == {"type": "synced", "last_id": chat["first"].pk, "more": False}
        assert shown["type"] == "presence"
    assert calls == []
    assert lookups == [thread_heads.head_key(thread.pk)] * 2

    monkeypatch.setattr(events, "group_send_many", lambda sends, also=None: False)
    lost = await acreate(sender=chat["anna"], thread=thread, text="потерялось")
    await comm.send_json_to({"type": "sync", "after": 0})
    frames = await receive_until(comm, "synced")
    assert [frame.get("id") for frame in frames[:-1]] == [lost.pk]
    assert len(calls) == 1
    await comm.disconnect()


@needs_redis
async def test_without_a_head_the_keepalive_reads_the_database_and_notes_it(chat, monkeypatch):
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"])
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(thread_heads.head_key(thread.pk))  # Redis restarted, or the thread went quiet
    calls = count_database_syncs(monkeypatch)
    await comm.send_json_to({"type": "sync", "after": 0})
    await receive_until(comm, "synced")
    assert len(calls) == 1
    assert int(client.get(thread_heads.head_key(thread.pk))) == chat["first"].pk
    await comm.send_json_to({"type": "sync", "after": 0})
    await receive_until(comm, "synced")
    assert len(calls) == 1  # the head is back
    client.close()
    await comm.disconnect()


@needs_redis
async def test_a_thread_without_messages_has_a_head_too(monkeypatch):
    anna, boris = await database_sync_to_async(lambda: (make_rt_user(), make_rt_user()))()
    thread = await database_sync_to_async(services.thread_get_or_create_for_pair)(
        user=anna, other=boris
    )
    comm, _ = await open_chat(thread.pk, await database_sync_to_async(session_cookie)(anna))
    calls = count_database_syncs(monkeypatch)
    await comm.send_json_to({"type": "sync", "after": 0})
    [synced] = await receive_until(comm, "synced")
    assert (synced["last_id"], calls) == (0, [])
    await comm.disconnect()


@needs_redis
async def test_a_client_that_claims_a_huge_position_cannot_raise_the_head(chat):
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=2**62)
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert int(client.get(thread_heads.head_key(thread.pk))) == chat["first"].pk
    client.close()
    await comm.disconnect()


@needs_redis
async def test_the_head_goes_with_the_broadcast(chat):
    thread = chat["thread"]
    later = await acreate(sender=chat["anna"], thread=thread, text="ещё")
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert int(client.get(thread_heads.head_key(thread.pk))) == later.pk
    assert 0 < client.ttl(thread_heads.head_key(thread.pk)) <= thread_heads.HEAD_TTL
    client.close()
