"""
A client_id with characters that cannot be stored (NUL) or encoded (a lone
surrogate) is refused with invalid_client_id, and the error frame that echoes
it is still text a WebSocket can carry.
"""

import json

import pytest
from channels.db import database_sync_to_async

from privatemessages import services
from privatemessages.models import Message
from privatemessages.tests.realtime_fixtures import (
    make_rt_user,
    open_chat,
    receive,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat():
    anna = make_rt_user("anna")
    make_rt_user("boris")
    first = services.message_send_to_username(sender=anna, recipient_username="boris", text="0")
    return {"thread": first.thread, "first": first, "anna": session_cookie(anna)}


@pytest.mark.parametrize("client_id", ["\ud800", "a\udfffb", "\x00", "ok\x00"])
async def test_unstorable_client_id_is_refused_as_invalid_and_echoed_encodably(chat, client_id):
    """A NUL or a lone surrogate in client_id gets invalid_client_id (not retryable),
    echoed in a frame that encodes as UTF-8; nothing is saved and the socket stays usable."""
    comm, _ = await open_chat(chat["thread"].pk, chat["anna"], after=chat["first"].pk)
    # json.dumps escapes the surrogate, as a browser's JSON.stringify does.
    await comm.send_to(
        text_data=json.dumps({"type": "message", "text": "привет", "client_id": client_id})
    )
    raw = await comm.receive_from()
    raw.encode("utf-8")  # what the server must be able to put on the wire
    frame = json.loads(raw)
    assert frame["type"] == "error"
    assert frame["code"] == "invalid_client_id"
    # The same string comes back, so the client can tell which line was refused.
    assert frame["client_id"] == client_id
    assert frame["detail"]
    await comm.send_json_to({"type": "ping"})
    assert (await receive(comm))["type"] == "pong"
    count = await database_sync_to_async(Message.objects.filter(thread=chat["thread"]).count)()
    assert count == 1
    await comm.disconnect()


async def test_unknown_frame_echoes_a_lone_surrogate_client_id_encodably(chat):
    """Every error frame that echoes a client_id can be encoded, whatever the frame."""
    comm, _ = await open_chat(chat["thread"].pk, chat["anna"], after=chat["first"].pk)
    await comm.send_to(text_data=json.dumps({"type": "bogus", "client_id": "\ud800"}))
    raw = await comm.receive_from()
    raw.encode("utf-8")
    assert json.loads(raw)["code"] == "unknown_type"
    await comm.disconnect()


@pytest.mark.parametrize("client_id", ["\ud800", "\x00", "x" * 65, 5])
def test_clean_client_id_refuses_unstorable_ids(client_id):
    with pytest.raises(services.MessageError) as refused:
        services.clean_client_id(client_id)
    assert refused.value.code == "invalid_client_id"


def test_clean_client_id_keeps_ordinary_ids():
    assert services.clean_client_id("9f1c0e" * 10) == "9f1c0e" * 10
    assert services.clean_client_id("вкладка-1") == "вкладка-1"
    assert services.clean_client_id(None) == ""
