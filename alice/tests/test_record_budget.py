"""What a turn records of its request, and the budget on a dialog's record."""

import uuid

import pytest
from django.test.utils import override_settings

from alice import Skill, request, say
from alice.apps import store_from_settings
from alice.engine import Turn
from alice.engine.durable import DEFAULT_MAX_SESSION_BYTES, encode_turn
from alice.engine.redis_store import RedisSessionStore
from alice.models import DialogTurn
from alice.scripts import acquaintance
from alice.testing import DialogClient, RecordingMemoryStore
from alice.tests import skills

from .test_engine import request_for, text_of

PADDING = "x" * 40_000


def padded_request(session_id: str, message_id: int, command: str, **session) -> dict:
    """A request with everything a client may add around what the protocol defines."""
    data = request_for(session_id, message_id, command, new=message_id == 0, **session)
    data["padding"] = PADDING
    data["meta"]["padding"] = PADDING
    data["state"] = {"session": {}, "user": {"padding": PADDING}, "application": {}}
    data["session"].update(skill_id="skill", padding=PADDING)
    data["request"].update(
        type="SimpleUtterance",
        markup={"dangerous_context": False},
        nlu={"tokens": command.split(), "entities": [], "intents": {}, "padding": PADDING},
        padding=PADDING,
    )
    return data


def stored_sizes(store, session_id: str) -> list[int]:
    """Return the size in bytes of each turn as the backend keeps it."""
    if isinstance(store, RedisSessionStore):
        records = store.client.lrange(store.keys(session_id)[2], 0, -1)
    else:
        turns = DialogTurn.objects.filter(
            session__namespace=store.namespace, session__session_id=session_id
        )
        records = turns.order_by("number").values_list("record", flat=True)
    return [len(record.encode() if isinstance(record, str) else record) for record in records]


def test_a_turn_records_only_what_a_replay_needs(backend):
    """A turn keeps the request body's protocol fields, the message id and `new`: none of
    what a client added around them, nor the user's ids or access_token."""
    store = backend()
    skill = skills.counter.using(store)
    session_id = str(uuid.uuid4())
    user = {"user_id": "A", "access_token": "secret-token-88"}
    for message_id, command in enumerate(["", "два слова"]):
        skill.handle(padded_request(session_id, message_id, command, user=user))
    (first, second) = store.history(session_id)
    assert second.request == {
        "request": {
            "command": "два слова",
            "original_utterance": "два слова",
            "type": "SimpleUtterance",
            "markup": {"dangerous_context": False},
            "nlu": {"tokens": ["два", "слова"], "entities": [], "intents": {}},
        },
        # Whether the account is linked, never the token (issue 13).
        "session": {"message_id": 1, "new": False, "authorized": True},
    }
    assert first.request["session"] == {"message_id": 0, "new": True, "authorized": True}
    sizes = stored_sizes(store, session_id)
    assert sizes == [len(encode_turn(turn).encode()) for turn in (first, second)]
    assert all(size < 400 for size in sizes)


def test_a_replay_sees_its_turns_own_message_and_the_sessions_context():
    """On a replay, a turn sees its recorded message id and body, and the session's ids,
    meta and state from the request being answered: the dialog goes on as it was."""
    skill = Skill("alice.tests.context")

    @skill.script
    def context():
        while True:
            screen = "screen" in request["meta"]["interfaces"]
            yield say(f"{request.message_id} {request.command} {request.user_id} {screen}")

    client = DialogClient(skill, replay=True)
    assert client.start().text.startswith("0  ")
    assert client.say("раз").text == f"1 раз {client.user_id} True"
    assert client.say("два").text == f"2 два {client.user_id} True"
    assert client.say("три").text == f"3 три {client.user_id} True"


def test_the_record_budget_ends_the_dialog_politely(backend, caplog):
    """Once the recorded turns reach max_session_bytes, the next request ends the dialog
    with too_long_text, wherever it lands; the one after starts over."""
    a, b = backend(max_session_bytes=3000), backend(max_session_bytes=3000)
    session_id = str(uuid.uuid4())
    texts, recorded = [], []
    for message_id in range(20):
        skill = skills.counter.using((a, b)[message_id % 2])
        texts.append(text_of(skill.handle(request_for(session_id, message_id, "слово " * 50))))
        if texts[-1] == skill.too_long_text:
            break
        recorded.append(a.get(session_id).recorded_bytes)
    assert texts == [*(str(n) for n in range(1, len(recorded) + 1)), skill.too_long_text]
    assert recorded[-2] < 3000 <= recorded[-1]
    assert a.get(session_id).over
    assert f"recorded {recorded[-1]} bytes of turns; closing it" in caplog.text
    again = skills.counter.using(b).handle(request_for(session_id, len(texts), "x"))
    assert text_of(again) == "1"


def test_the_recorded_bytes_are_the_size_of_the_stored_turns(backend):
    """The session counts the bytes of its turns, and a new session starts from zero."""
    store = backend()
    client = DialogClient(acquaintance.skill.using(store))
    client.dialog("Саша", "двадцать")
    sizes = stored_sizes(store, client.session_id)
    assert len(sizes) == 3
    assert store.get(client.session_id).recorded_bytes == sum(sizes)
    client.start()
    (size,) = stored_sizes(store, client.session_id)
    assert store.get(client.session_id).recorded_bytes == size


def test_the_budget_bounds_what_a_replay_reads():
    """With the default budget, a dialog of utterances as long as the protocol allows ends
    before a replay reads more than the budget and one turn."""
    store = RecordingMemoryStore(max_sessions=0)  # every request replays
    read = []
    history = store.history

    def measured(session_id, held=None):
        turns = history(session_id, held)
        read.append(sum(len(encode_turn(turn).encode()) for turn in turns))
        return turns

    store.history = measured  # type: ignore[method-assign]
    client = DialogClient(skills.counter, store=store)
    reply = client.start()
    while not reply.end_session:
        reply = client.say("я" * 1024)
    assert reply.text == skills.counter.too_long_text
    one_turn = read[1] - read[0]
    assert DEFAULT_MAX_SESSION_BYTES - one_turn <= max(read) < DEFAULT_MAX_SESSION_BYTES


@pytest.mark.django_db
def test_the_budget_comes_from_the_settings():
    """ALICE_MAX_SESSION_BYTES sets the budget of the stores that record turns."""
    with override_settings(ALICE_SESSION_STORE="alice.db_store.DatabaseSessionStore"):
        assert store_from_settings(namespace="x").max_session_bytes == DEFAULT_MAX_SESSION_BYTES
        with override_settings(ALICE_MAX_SESSION_BYTES=1234):
            assert store_from_settings(namespace="x").max_session_bytes == 1234


def test_a_dialog_at_the_budget_is_not_replayed():
    """The dialog that reached its budget ends without its turns being read or replayed."""
    store = RecordingMemoryStore(max_sessions=0, max_session_bytes=10)
    skill = skills.counter.using(store)
    skill.handle(request_for("s", 0, new=True))
    read = []
    store.history = read.append  # type: ignore[method-assign]
    assert text_of(skill.handle(request_for("s", 1, "x"))) == skill.too_long_text
    assert read == []


def test_a_turn_recorded_whole_by_the_previous_release_still_replays():
    """Turns recorded before this change (the whole request, minus the access_token) are
    replayed as they were, so that a deploy ends no dialog in progress."""
    store = RecordingMemoryStore(max_sessions=0)
    skill = skills.echo.using(store)
    skill.handle(request_for("s", 0, new=True))
    skill.handle(request_for("s", 1, "раз"))
    stored, _ = store._records["s"]
    whole = [request_for("s", 0, new=True), request_for("s", 1, "раз")]
    recorded = store.history("s")
    turns = [
        Turn(data, turn.values, turn.digest) for data, turn in zip(whole, recorded, strict=True)
    ]
    store._records["s"] = (stored, [encode_turn(turn) for turn in turns])
    assert text_of(skill.handle(request_for("s", 2, "два"))) == "два|два"
