"""
The WebSocket consumers, through the site's real ASGI stack (origin check,
session cookie, routing) with WebsocketCommunicator. They run on whatever
channel layer the settings give: in-memory without REDIS_URL, Redis with it.
"""

import asyncio
import json
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from privatemessages import consumers, delivery, events, loop_db, services
from privatemessages.conf import app_settings
from privatemessages.models import ChatProfile, Membership, Message
from privatemessages.ratelimit import TokenBucket
from privatemessages.tests.realtime_fixtures import (
    TIMEOUT,
    communicator,
    drain,
    open_chat,
    receive,
    receive_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["in a database thread", "on the event loop"])
async def saving(request, settings):
    """Both ways a socket saves a message: the test's answers are the same."""
    if request.param == "in a database thread":
        yield
        return
    if connection.vendor != "postgresql":
        pytest.skip("saving on the event loop needs PostgreSQL (set DATABASE_URL)")
    settings.PRIVATEMESSAGES_SAVE_ON_LOOP = True
    no_thread = AssertionError("saved in a database thread")
    with mock.patch.object(consumers.ChatConsumer, "_save_message", side_effect=no_thread):
        yield
    await loop_db.close_loop_pool()


def count_messages(**filters) -> int:
    return Message.objects.filter(**filters).count()


acount = database_sync_to_async(count_messages)
acreate = database_sync_to_async(services.message_create)


async def closed_with(comm) -> int:
    output = await comm.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close"
    return output["code"]


# Connecting


async def test_anonymous_is_refused_with_4401(chat):
    comm = communicator(f"/ws/messages/{chat['thread'].pk}/")
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected  # accepted only to say why it closes
    assert await closed_with(comm) == consumers.CLOSE_UNAUTHENTICATED


async def test_anonymous_thread_list_is_refused_with_4401():
    comm = communicator("/ws/messages/")
    await comm.connect(timeout=TIMEOUT)
    assert await closed_with(comm) == consumers.CLOSE_UNAUTHENTICATED


async def test_non_participant_is_refused_with_4403(chat):
    comm = communicator(f"/ws/messages/{chat['thread'].pk}/", chat["cookies"]["carol"])
    await comm.connect(timeout=TIMEOUT)
    assert await closed_with(comm) == consumers.CLOSE_FORBIDDEN


async def test_missing_thread_is_refused_like_a_foreign_one(chat):
    comm = communicator("/ws/messages/999999999/", chat["cookies"]["anna"])
    await comm.connect(timeout=TIMEOUT)
    assert await closed_with(comm) == consumers.CLOSE_FORBIDDEN


@pytest.mark.parametrize("origin", [None, "http://evil.example.com"])
async def test_foreign_or_missing_origin_fails_the_handshake(chat, origin):
    comm = communicator(f"/ws/messages/{chat['thread'].pk}/", chat["cookies"]["anna"], origin)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert not connected


# Sending


async def test_message_is_saved_then_delivered_to_both_participants(chat, saving):
    thread = chat["thread"]
    after = chat["first"].pk
    anna, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=after)
    boris, _ = await open_chat(thread.pk, chat["cookies"]["boris"], after=after)
    anna_list = communicator("/ws/messages/", chat["cookies"]["anna"])
    assert (await anna_list.connect(timeout=TIMEOUT))[0]

    await anna.send_json_to({"type": "message", "text": "  <b>Как дела?</b>  ", "client_id": "c1"})

    to_anna, to_boris = await receive(anna), await receive(boris)
    saved = await database_sync_to_async(Message.objects.get)(thread=thread, client_id="c1")
    assert saved.text == "<b>Как дела?</b>"
    expected = {
        "type": "message",
        "id": saved.pk,
        "thread": thread.pk,
        "sender": "anna",
        "sender_id": chat["anna"].pk,
        "text": "<b>Как дела?</b>",
        "created": saved.created.isoformat().replace("+00:00", "Z"),
    }
    # Each participant's frame carries their unread count in the thread, and
    # the receiver's also the unread total that changed with it.
    assert to_anna == {**expected, "client_id": "c1", "unread": 0}
    counts = {key: to_boris.pop(key) for key in ("unread", "unread_total", "version")}
    assert to_boris == {**expected, "client_id": None}  # echoed to the sender only
    member = await database_sync_to_async(Membership.objects.get)(
        thread=thread, user=chat["boris"]
    )
    profile = await database_sync_to_async(ChatProfile.objects.get)(user=chat["boris"])
    assert counts == {
        "unread": member.unread_count,
        "unread_total": profile.unread_total,
        "version": profile.unread_version,
    }
    assert counts["unread"] >= 1
    update = await receive(anna_list)
    assert update["type"] == "thread"
    assert update["thread"] == thread.pk
    assert update["total"] == 2
    assert update["partner"] == "boris"
    assert update["outgoing"] is True
    assert update["preview"] == "<b>Как дела?</b>"
    assert await drain(anna, 0.2) == []
    assert await drain(boris, 0.2) == []
    for comm in (anna, boris, anna_list):
        await comm.disconnect()


async def test_resent_client_id_is_saved_once(chat, saving):
    thread = chat["thread"]
    anna, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=chat["first"].pk)
    frame = {"type": "message", "text": "один раз", "client_id": "resent-1"}
    await anna.send_json_to(frame)
    first = await receive(anna)
    await anna.send_json_to(frame)
    assert await drain(anna, 0.3) == []
    assert await acount(thread=thread) == 2
    assert first["client_id"] == "resent-1"
    await anna.disconnect()


# Bad input: an error frame, nothing saved, the socket still works.

BAD_FRAMES = [
    ("text", "это не JSON", "invalid_json"),
    ("text", "[" * 100_000 + "]" * 100_000, "invalid_json"),
    ("text", "[1, 2]", "unknown_type"),
    ("text", '"message"', "unknown_type"),
    ("json", {"text": "без типа"}, "unknown_type"),
    ("json", {"type": "shout", "text": "громко"}, "unknown_type"),
    ("json", {"type": "message"}, "invalid_text"),
    ("json", {"type": "message", "text": 42}, "invalid_text"),
    ("json", {"type": "message", "text": ["a"]}, "invalid_text"),
    ("json", {"type": "message", "text": " \n\t "}, "empty"),
    ("json", {"type": "message", "text": "я" * 10_001}, "too_long"),
    ("json", {"type": "message", "text": "ok", "client_id": 5}, "invalid_client_id"),
    ("json", {"type": "message", "text": "ok", "client_id": "x" * 65}, "invalid_client_id"),
    ("json", {"type": "sync", "after": "1"}, "invalid_sync"),
    ("json", {"type": "sync", "after": -1}, "invalid_sync"),
    ("json", {"type": "sync", "after": True}, "invalid_sync"),
    ("bytes", b'{"type": "message", "text": "binary"}', "binary_frame"),
]


@pytest.mark.parametrize(("kind", "frame", "code"), BAD_FRAMES, ids=[c for *_, c in BAD_FRAMES])
async def test_bad_frame_gets_an_error_and_saves_nothing(chat, kind, frame, code):
    thread = chat["thread"]
    anna, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=chat["first"].pk)
    if kind == "text":
        await anna.send_to(text_data=frame)
    elif kind == "bytes":
        await anna.send_to(bytes_data=frame)
    else:
        await anna.send_json_to(frame)

    error = await receive(anna)
    assert error["type"] == "error"
    assert error["code"] == code
    assert isinstance(error["detail"], str)
    assert error["detail"]
    assert await acount(thread=thread) == 1

    await anna.send_json_to({"type": "message", "text": "всё ещё работает", "client_id": "ok"})
    assert (await receive(anna))["text"] == "всё ещё работает"
    assert await acount(thread=thread) == 2
    await anna.disconnect()


async def test_error_names_the_client_id_of_the_refused_message(chat):
    anna, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"], after=0)
    await anna.send_json_to({"type": "message", "text": "", "client_id": "c-empty"})
    error = await receive(anna)
    assert (error["code"], error["client_id"]) == ("empty", "c-empty")
    await anna.disconnect()


async def test_message_over_the_rate_limit_is_refused_and_not_saved(chat, saving, settings):
    settings.PRIVATEMESSAGES_WS_BURST = 6
    settings.PRIVATEMESSAGES_WS_RATE = 0.01
    thread = chat["thread"]
    # The sync spends the first token: every frame counts.
    anna, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=chat["first"].pk)
    for n in range(8):
        await anna.send_json_to({"type": "message", "text": f"флуд {n}", "client_id": f"f{n}"})
    await anna.send_json_to({"type": "sync", "after": 0})

    frames = await receive_until(anna, "error") + await drain(anna, 0.5)
    errors = [(f["code"], f.get("client_id")) for f in frames if f["type"] == "error"]
    assert errors == [
        ("rate_limited", "f5"),
        ("rate_limited", "f6"),
        ("rate_limited", "f7"),
        ("rate_limited", None),  # the sync
    ]
    assert [f["client_id"] for f in frames if f["type"] == "message"] == [
        f"f{n}" for n in range(5)
    ]
    saved = await database_sync_to_async(list)(
        Message.objects.filter(thread=thread, sender=chat["anna"]).values_list("text", flat=True)
    )
    assert saved == ["Привет!"] + [f"флуд {n}" for n in range(5)]
    await anna.disconnect()


async def test_flood_saves_nothing_past_the_default_limit(chat, saving):
    thread = chat["thread"]
    anna, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=chat["first"].pk)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(100):
        await anna.send_json_to({"type": "message", "text": f"{n}", "client_id": f"flood{n}"})
    frames = []
    while len(frames) < 100:
        frames.append(await receive(anna))
    elapsed = loop.time() - started
    echoed = [f for f in frames if f["type"] == "message"]
    refused = [f for f in frames if f["type"] == "error"]
    assert {f["code"] for f in refused} == {"rate_limited"}
    assert len(echoed) + len(refused) == 100
    allowed = app_settings.WS_BURST + app_settings.WS_RATE * elapsed
    assert app_settings.WS_BURST - 1 <= len(echoed) <= allowed
    assert await acount(thread=thread) == 1 + len(echoed)
    await anna.disconnect()


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] = 100
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


# Sync: no loss, no duplicates


async def test_sync_after_a_gap_returns_exactly_the_missed_messages(chat):
    thread, anna, boris = chat["thread"], chat["anna"], chat["boris"]
    seen = chat["first"].pk
    missed = [
        await acreate(sender=boris, thread=thread, text=f"пока тебя не было {n}") for n in range(3)
    ]
    own = await acreate(sender=anna, thread=thread, text="из другой вкладки", client_id="tab2")

    comm, frames = await open_chat(thread.pk, chat["cookies"]["anna"], after=seen)

    *replayed, synced = frames
    assert [f["id"] for f in replayed] == [m.pk for m in [*missed, own]]
    assert [f["text"] for f in replayed] == [m.text for m in [*missed, own]]
    assert replayed[-1]["client_id"] == "tab2"  # the sender's own message
    read = synced.pop("read")
    assert synced == {"type": "synced", "last_id": own.pk, "more": False}
    # Sending from the other tab read everything before it.
    assert (read["last_read_id"], read["unread"]) == (own.pk, 0)

    live = await acreate(sender=boris, thread=thread, text="а теперь вживую")
    assert (await receive(comm))["id"] == live.pk
    assert await drain(comm, 0.3) == []
    await comm.disconnect()


async def test_partner_never_sees_the_senders_client_id_in_a_replay(chat):
    thread = chat["thread"]
    await acreate(sender=chat["anna"], thread=thread, text="секрет вкладки", client_id="t1")
    comm, frames = await open_chat(thread.pk, chat["cookies"]["boris"], after=0)
    assert [f.get("client_id") for f in frames[:-1]] == [None, None]
    await comm.disconnect()


async def test_long_gap_is_replayed_in_pages(chat, monkeypatch):
    monkeypatch.setattr(consumers, "SYNC_LIMIT", 2)
    thread = chat["thread"]
    made = [await acreate(sender=chat["boris"], thread=thread, text=f"{n}") for n in range(3)]
    comm, frames = await open_chat(thread.pk, chat["cookies"]["anna"], after=0)
    assert [f.get("id") for f in frames[:-1]] == [chat["first"].pk, made[0].pk]
    assert {**frames[-1], "read": None} == {
        "type": "synced",
        "last_id": made[0].pk,
        "more": True,
        "read": None,
    }
    await comm.send_json_to({"type": "sync", "after": made[0].pk})
    frames = await receive_until(comm, "synced")
    assert [f.get("id") for f in frames[:-1]] == [made[1].pk, made[2].pk]
    assert frames[-1]["more"] is False
    await comm.disconnect()


async def test_live_messages_wait_for_the_first_sync(chat):
    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=None)
    early = await acreate(sender=chat["boris"], thread=thread, text="до синхронизации")
    assert await drain(comm, 0.3) == []
    await comm.send_json_to({"type": "sync", "after": chat["first"].pk})
    frames = await receive_until(comm, "synced")
    assert [f.get("id") for f in frames] == [early.pk, None]
    await comm.disconnect()


async def test_a_lost_live_event_is_fetched_with_the_next_one(chat, monkeypatch):
    thread, boris = chat["thread"], chat["boris"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=chat["first"].pk)
    with monkeypatch.context() as patch:
        # The channel layer drops this one (as Redis pub/sub does while reconnecting).
        patch.setattr(events, "broadcast_message_created", lambda *a, **k: None)
        lost = await acreate(sender=boris, thread=thread, text="потерялось в пути")
    assert await drain(comm, 0.2) == []
    after = await acreate(sender=boris, thread=thread, text="следующее")
    frames = [await receive(comm), await receive(comm)]
    assert [f["id"] for f in frames] == [lost.pk, after.pk]
    assert await drain(comm, 0.3) == []
    await comm.disconnect()


async def test_an_event_that_overtook_its_predecessor_waits_for_it(chat, monkeypatch):
    """
    Live events out of order (two processes announced them; the second announcement
    arrives first) are delivered in order, once each, without reading the database.
    """
    thread, boris = chat["thread"], chat["boris"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=chat["first"].pk)
    replays = []
    stored_after = consumers.ChatConsumer._stored_after

    def counting_stored_after(self, after):
        replays.append(after)
        return stored_after(self, after)

    monkeypatch.setattr(consumers.ChatConsumer, "_stored_after", counting_stored_after)
    with monkeypatch.context() as patch:
        patch.setattr(events, "broadcast_message_created", lambda *a, **k: None)
        one = await acreate(sender=boris, thread=thread, text="первое")
        two = await acreate(sender=boris, thread=thread, text="второе")
    layer = get_channel_layer()
    group = events.thread_group(thread.pk)
    for message, prev in ((two, one.pk), (one, chat["first"].pk)):
        payload = await database_sync_to_async(events.message_payload)(message)
        event = {"type": "chat.message", "message": payload, "prev_id": prev}
        await layer.group_send(group, event)
    frames = [await receive(comm), await receive(comm)]
    assert [f["id"] for f in frames] == [one.pk, two.pk]
    assert await drain(comm, 2 * delivery.REORDER_WAIT + 0.2) == []
    assert replays == []
    await comm.disconnect()


async def test_group_events_skip_the_thread_hop(chat, monkeypatch):
    """Delivering a live message does not hop to a thread to close DB connections."""
    hops = []

    async def counting_hop():
        hops.append(1)

    thread = chat["thread"]
    comm, _ = await open_chat(thread.pk, chat["cookies"]["anna"], after=chat["first"].pk)
    monkeypatch.setattr("channels.consumer.aclose_old_connections", counting_hop)
    message = await acreate(sender=chat["boris"], thread=thread, text="без лишних прыжков")
    assert (await receive(comm))["id"] == message.pk
    assert hops == []
    await comm.disconnect()


# The thread list


async def test_thread_list_sync_and_a_new_thread_appearing(chat):
    anna = chat["anna"]
    comm = communicator("/ws/messages/", chat["cookies"]["anna"])
    assert (await comm.connect(timeout=TIMEOUT))[0]
    await comm.send_json_to({"type": "sync"})
    listing = await receive(comm)
    assert listing["type"] == "threads"
    assert [(t["thread"], t["partner"], t["total"]) for t in listing["threads"]] == [
        (chat["thread"].pk, "boris", 1)
    ]
    assert listing["threads"][0]["last_message"]["id"] == chat["first"].pk

    new = await database_sync_to_async(services.message_send_to_username)(
        sender=chat["carol"], recipient_username="anna", text="Давай знакомиться"
    )
    update = await receive(comm)
    assert update["type"] == "thread"
    assert (update["thread"], update["partner"], update["total"]) == (new.thread_id, "carol", 1)
    assert update["outgoing"] is False
    assert update["url"] == f"/messages/chat/{new.thread_id}/"
    assert update["last_message"]["client_id"] is None
    assert anna.pk != update["last_message"]["sender_id"]
    await comm.disconnect()


async def test_thread_list_refuses_message_frames(chat):
    comm = communicator("/ws/messages/", chat["cookies"]["anna"])
    assert (await comm.connect(timeout=TIMEOUT))[0]
    await comm.send_to(text_data=json.dumps({"type": "message", "text": "куда?"}))
    assert (await receive(comm))["code"] == "unknown_type"
    await comm.disconnect()


async def test_ping_is_answered(chat):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"], after=None)
    await comm.send_json_to({"type": "ping"})
    assert await receive(comm) == {"type": "pong"}
    await comm.disconnect()


async def test_client_id_reused_in_another_thread_is_refused(chat, saving):
    thread = chat["thread"]
    await acreate(sender=chat["anna"], thread=thread, text="здесь", client_id="once")
    carol_thread = await database_sync_to_async(services.thread_get_or_create_for_pair)(
        user=chat["anna"], other=chat["carol"]
    )
    comm, _ = await open_chat(carol_thread.pk, chat["cookies"]["anna"], after=0)
    await comm.send_json_to({"type": "message", "text": "и здесь", "client_id": "once"})
    error = await receive(comm)
    assert (error["code"], error["client_id"]) == ("duplicate_client_id", "once")
    assert await acount(thread=carol_thread) == 0
    await comm.disconnect()


async def test_a_chat_socket_gets_thread_frames_of_the_users_other_threads_only(chat):
    comm, _ = await open_chat(chat["thread"].pk, chat["cookies"]["anna"])
    send = database_sync_to_async(services.message_send_to_username)

    # In the open thread: the message frame carries its counts, no thread frame.
    await send(sender=chat["boris"], recipient_username="anna", text="Здесь")
    here = await drain(comm)
    assert [frame["type"] for frame in here] == ["message"]

    # In another thread of hers: the thread frame, for the header and a notification.
    other = await send(sender=chat["carol"], recipient_username="anna", text="Там")
    (update,) = await drain(comm)
    assert update["type"] == "thread"
    assert (update["thread"], update["partner"], update["outgoing"]) == (
        other.thread_id,
        "carol",
        False,
    )
    assert update["unread"] == 1
    await comm.disconnect()
