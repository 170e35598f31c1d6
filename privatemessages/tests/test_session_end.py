"""
Sockets end with their session: logging out closes the sockets of that
session, a password change, deactivation or deletion closes all of the user's
sockets, each with 4401; nothing a client sends after that is processed.
Through the site's real ASGI stack with WebsocketCommunicator; across real
processes in test_realtime_sessions_and_limits.py.
"""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from privatemessages import consumers, events, services
from privatemessages.fanout import get_fanout
from privatemessages.models import Message
from privatemessages.tests.realtime_fixtures import (
    TIMEOUT,
    communicator,
    make_rt_user,
    open_chat,
    receive,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat():
    anna, boris = make_rt_user("anna"), make_rt_user("boris")
    first = services.message_send_to_username(sender=anna, recipient_username="boris", text="0")
    carol = make_rt_user("carol")
    return {
        "anna": anna,
        "boris": boris,
        "carol": carol,
        "thread": first.thread,
        "first": first,
        # Two sessions of anna (say, a laptop and a phone), one of boris and carol.
        "laptop": session_cookie(anna),
        "phone": session_cookie(anna),
        "boris_cookie": session_cookie(boris),
        "carol_cookie": session_cookie(carol),
    }


async def closed_with(comm, timeout: float = TIMEOUT) -> int:
    """Return the close code of *comm*, skipping the frames before it."""
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code")


async def still_open(comm) -> bool:
    await comm.send_json_to({"type": "ping"})
    return (await receive(comm))["type"] == "pong"


async def open_thread_list(cookie: str):
    comm = communicator("/ws/messages/", cookie)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    return comm


def log_out(cookie: str) -> None:
    """Log out over HTTP, as the browser does, with the session of *cookie*."""
    client = Client()
    name, value = cookie.split("=", 1)
    client.cookies[name] = value
    response = client.post("/accounts/logout/")
    assert response.status_code == 302


alog_out = database_sync_to_async(log_out)


@database_sync_to_async
def change_password(user) -> None:
    user = get_user_model().objects.get(pk=user.pk)
    user.set_unusable_password()
    user.save()


@database_sync_to_async
def save_user(user_id: int, **fields) -> None:
    user = get_user_model().objects.get(pk=user_id)
    for name, value in fields.items():
        setattr(user, name, value)
    user.save()


async def test_logout_closes_the_sockets_of_that_session_only(chat):
    """Logging out closes that session's chat and thread-list sockets with 4401; the
    user's other sessions and other users keep theirs."""
    thread = chat["thread"]
    laptop, phone = chat["laptop"], chat["phone"]
    laptop_chat, _ = await open_chat(thread.pk, laptop)
    laptop_list = await open_thread_list(laptop)
    phone_chat, _ = await open_chat(thread.pk, phone)
    boris_chat, _ = await open_chat(thread.pk, chat["boris_cookie"])

    loop = asyncio.get_running_loop()
    started = loop.time()
    await alog_out(laptop)
    assert await closed_with(laptop_chat, 1) == consumers.CLOSE_UNAUTHENTICATED
    assert await closed_with(laptop_list, 1) == consumers.CLOSE_UNAUTHENTICATED
    assert loop.time() - started < 1
    assert await still_open(phone_chat)
    assert await still_open(boris_chat)
    for comm in (laptop_chat, laptop_list, phone_chat, boris_chat):
        await comm.disconnect()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(change_password, id="password"),
        pytest.param(lambda user: save_user(user.pk, is_active=False), id="deactivated"),
    ],
)
async def test_password_change_or_deactivation_closes_every_socket_of_the_user(chat, change):
    """A new password or is_active=False closes all of the user's sockets, in every
    session, with 4401; other users' sockets stay open."""
    thread = chat["thread"]
    laptop, phone = chat["laptop"], chat["phone"]
    laptop_chat, _ = await open_chat(thread.pk, laptop)
    phone_list = await open_thread_list(phone)
    boris_chat, _ = await open_chat(thread.pk, chat["boris_cookie"])

    await change(chat["anna"])
    assert await closed_with(laptop_chat, 1) == consumers.CLOSE_UNAUTHENTICATED
    assert await closed_with(phone_list, 1) == consumers.CLOSE_UNAUTHENTICATED
    assert await still_open(boris_chat)
    # And the sessions are really over: a new socket is refused at once.
    again = communicator(f"/ws/messages/{thread.pk}/", laptop)
    await again.connect(timeout=TIMEOUT)
    assert await closed_with(again) == consumers.CLOSE_UNAUTHENTICATED
    for comm in (laptop_chat, phone_list, boris_chat, again):
        await comm.disconnect()


async def test_deleting_the_user_closes_its_sockets(chat):
    """A deleted user's sockets close with 4401."""
    carol_list = await open_thread_list(chat["carol_cookie"])
    await database_sync_to_async(chat["carol"].delete)()
    assert await closed_with(carol_list, 1) == consumers.CLOSE_UNAUTHENTICATED
    await carol_list.disconnect()


async def test_saving_the_user_without_new_credentials_closes_nothing(chat):
    """A save that leaves the password and is_active alone (a login's last_login, a
    new name) keeps the user's sockets open."""
    thread = chat["thread"]
    anna_chat, _ = await open_chat(thread.pk, chat["laptop"])
    await save_user(chat["anna"].pk, first_name="Анна")
    # A login elsewhere saves last_login (update_fields) and starts a session.
    await database_sync_to_async(Client().force_login)(chat["anna"])
    assert await anna_chat.receive_nothing(0.5)
    assert await still_open(anna_chat)
    await anna_chat.disconnect()


async def test_a_frame_that_arrives_after_the_session_ended_is_not_processed(chat):
    """Once the session has ended, a message the client still sends is not saved and
    nothing but the close is sent."""
    thread = chat["thread"]
    cookie = chat["laptop"]
    anna_chat, _ = await open_chat(thread.pk, cookie, after=chat["first"].pk)
    await alog_out(cookie)
    assert await closed_with(anna_chat, 1) == consumers.CLOSE_UNAUTHENTICATED
    # The server has said goodbye, but the socket is not gone yet.
    await anna_chat.send_to(
        text_data=json.dumps({"type": "message", "text": "после выхода", "client_id": "late"})
    )
    await anna_chat.send_to(text_data=json.dumps({"type": "ping"}))
    assert await anna_chat.receive_nothing(0.5)
    saved = await database_sync_to_async(Message.objects.filter(client_id="late").exists)()
    assert not saved
    await anna_chat.disconnect()


def test_credential_check_costs_no_query_when_the_save_cannot_change_them(
    transactional_db, django_assert_num_queries
):
    """The receiver reads the stored credentials only for a save that may change them."""
    user = make_rt_user()
    with django_assert_num_queries(1):  # the UPDATE alone
        user.save(update_fields=["last_login"])
    with django_assert_num_queries(2):  # the stored credentials, then the UPDATE
        user.save()


def test_session_events_name_no_session_key():
    """The key of a session is a credential: events carry a digest of it."""
    event = events.session_ended_event(7, "abcdefghijklmnopqrstuvwxyz012345")
    assert "abcdefghijklmnopqrstuvwxyz012345" not in json.dumps(event)
    assert events.session_ends_socket(
        event, events.session_digest("abcdefghijklmnopqrstuvwxyz012345")
    )
    assert not events.session_ends_socket(
        event, events.session_digest("another-session-key-0000000000")
    )
    assert events.session_ends_socket(events.session_ended_event(7, None), "any")


async def test_a_socket_waiting_for_its_replay_budget_closes_at_once(chat, settings):
    """A sync held by the replay budget does not hold up the end of the session."""
    settings.PRIVATEMESSAGES_USER_REPLAY_BURST = 1
    settings.PRIVATEMESSAGES_USER_REPLAY_RATE = 0.2
    thread = chat["thread"]
    await database_sync_to_async(services.message_create)(
        sender=chat["boris"], thread=thread, text="ещё"
    )
    anna_chat, frames = await open_chat(thread.pk, chat["laptop"])
    assert len(frames) == 3  # the budget is now 1 in debt: 10 s to a token
    second, _ = await open_chat(thread.pk, chat["laptop"], after=None)
    await second.send_json_to({"type": "sync", "after": 0})
    assert await second.receive_nothing(0.3)  # held
    loop = asyncio.get_running_loop()
    started = loop.time()
    await alog_out(chat["laptop"])
    assert await closed_with(second, 1) == consumers.CLOSE_UNAUTHENTICATED
    assert await closed_with(anna_chat, 1) == consumers.CLOSE_UNAUTHENTICATED
    assert loop.time() - started < 1
    for comm in (anna_chat, second):
        await comm.disconnect()


async def test_a_process_subscribes_once_for_every_users_sessions():
    """
    Sockets of many users cost one subscription per process for the end of
    sessions, and an event reaches only the sockets of the user it names.
    """
    fanout = get_fanout()
    others = [await database_sync_to_async(make_rt_user)() for _ in range(3)]
    sockets = []
    for user in others:
        comm = communicator("/ws/messages/", await database_sync_to_async(session_cookie)(user))
        connected, _ = await comm.connect(timeout=TIMEOUT)
        assert connected
        sockets.append(comm)
    assert fanout.subscribers(events.USERS_GROUP) == 1
    await database_sync_to_async(events.announce_sessions_ended)(others[0].pk)
    assert await closed_with(sockets[0]) == 4401
    for comm in sockets[1:]:
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()
