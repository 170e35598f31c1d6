import asyncio
import json
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from privatemessages import events, services
from privatemessages.models import Message, Thread
from privatemessages.services import (
    MessageError,
    check_message,
    message_create,
    message_send_to_username,
    thread_get_or_create_for_pair,
)


def test_thread_is_created_once_per_pair(anna, boris):
    first = thread_get_or_create_for_pair(user=anna, other=boris)
    again = thread_get_or_create_for_pair(user=boris, other=anna)
    assert first == again
    assert set(first.participants.all()) == {anna, boris}
    assert Thread.objects.count() == 1


def test_no_thread_with_yourself(anna):
    with pytest.raises(MessageError) as error:
        thread_get_or_create_for_pair(user=anna, other=anna)
    assert error.value.code == "self_recipient"
    assert Thread.objects.count() == 0


def test_a_thread_created_between_lookup_and_insert_is_returned(anna, boris, thread):
    """The lost race: the insert fails on the unique pair key, the winner's thread is used."""
    with mock.patch.object(Thread.objects, "filter", return_value=Thread.objects.none()):
        got = thread_get_or_create_for_pair(user=boris, other=anna)
    assert got == thread
    assert Thread.objects.count() == 1


def test_checked_text_is_saved_trimmed_and_bumps_last_message(anna, thread):
    """check_message trims; message_create saves what it was given, dated as last_message."""
    message = message_create(sender=anna, thread=thread, text=check_message("  Привет  ").text)
    thread.refresh_from_db()
    assert message.text == "Привет"
    assert message.sender == anna
    assert thread.last_message == message.created


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        # Invisible characters alone are empty too: zero-width space, BOM, word
        # joiner, bidi marks, a soft hyphen, a lone combining mark, Hangul filler.
        ("\u200b", "empty"),
        ("\ufeff\u2060\u200b", "empty"),
        (" \u200e\u200f\u202e \u00ad", "empty"),
        ("\u0301", "empty"),
        ("\u3164\u2800", "empty"),
        (None, "invalid_text"),
        (42, "invalid_text"),
        ("a\x00b", "invalid_text"),
        ("\udc80", "invalid_text"),
        ("я" * 10_001, "too_long"),
    ],
)
def test_check_message_rejects_bad_text(anna, thread, text, code):
    """Text that cannot be stored, or shows nothing, is refused with its code."""
    with pytest.raises(MessageError) as error:
        check_message(text)
    assert error.value.code == code
    assert Message.objects.count() == 0


@pytest.mark.parametrize("text", ["a\u200bb", "e\u0301", "👍🏽", "\u2800x", "مرحبا"])
def test_text_with_something_visible_is_kept_as_sent(anna, thread, text):
    """Invisible characters next to visible ones are kept: only blank text is refused."""
    checked = check_message(text).text
    assert message_create(sender=anna, thread=thread, text=checked).text == text


def test_message_create_rejects_a_non_participant(carol, thread):
    with pytest.raises(MessageError) as error:
        message_create(sender=carol, thread=thread, text="hi")
    assert error.value.code == "not_participant"
    assert Message.objects.count() == 0


def test_send_to_username(anna, boris):
    message = message_send_to_username(sender=anna, recipient_username="boris", text="hi")
    assert set(message.thread.participants.all()) == {anna, boris}


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("nobody", "unknown_recipient"),
        ("", "unknown_recipient"),
        (None, "unknown_recipient"),
        (42, "unknown_recipient"),
        ("bo\x00ris", "unknown_recipient"),
        ("\ud800", "unknown_recipient"),
        ("anna", "self_recipient"),
    ],
)
def test_send_to_username_rejections(anna, boris, username, code):
    with pytest.raises(MessageError) as error:
        message_send_to_username(sender=anna, recipient_username=username, text="hi")
    assert error.value.code == code
    assert Thread.objects.count() == 0


def test_fan_out_is_scheduled_for_after_commit(anna, thread, django_capture_on_commit_callbacks):
    with mock.patch.object(events, "broadcast_message_created") as broadcast:
        with django_capture_on_commit_callbacks() as callbacks:
            message = message_create(sender=anna, thread=thread, text="hi")
            broadcast.assert_not_called()
        assert len(callbacks) == 1
        broadcast.assert_not_called()  # not before the commit
        callbacks[0]()
    broadcast.assert_called_once()
    assert broadcast.call_args.args[0] == message
    assert broadcast.call_args.kwargs["total"] == 1


def test_nothing_is_announced_for_a_rolled_back_message(
    anna, thread, django_capture_on_commit_callbacks
):
    def send_then_fail():
        with transaction.atomic():
            message_create(sender=anna, thread=thread, text="hi")
            raise RuntimeError

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        send_then_fail()
    assert callbacks == []
    assert Message.objects.count() == 0


def test_committed_message_reaches_the_thread_group(
    anna, boris, thread, django_capture_on_commit_callbacks
):
    """
    End to end through the configured channel layer (in-memory, or Redis with
    REDIS_URL). One event loop throughout: the Redis pub/sub layer keeps its
    channels per loop.
    """

    def send_and_commit():
        with django_capture_on_commit_callbacks(execute=True):
            return message_create(sender=anna, thread=thread, text="живьём")

    async def scenario():
        layer = get_channel_layer()
        thread_channel = await layer.new_channel()
        boris_channel = await layer.new_channel()
        await layer.group_add(events.thread_group(thread.pk), thread_channel)
        await layer.group_add(events.USERS_GROUP, boris_channel)
        try:
            # Runs on this (the test's) thread, so it sees the test's database.
            message = await sync_to_async(send_and_commit)()
            event = await asyncio.wait_for(layer.receive(thread_channel), 5)
            update = await asyncio.wait_for(layer.receive(boris_channel), 5)
        finally:
            await layer.group_discard(events.thread_group(thread.pk), thread_channel)
            await layer.group_discard(events.USERS_GROUP, boris_channel)
        return message, event, update

    message, event, update = async_to_sync(scenario)()
    assert event["type"] == "chat.message"
    assert event["message"]["id"] == message.pk
    assert event["message"]["text"] == "живьём"
    assert event["message"]["sender"] == "anna"
    assert update["type"] == "thread.update"
    # One event for both participants' thread lists; boris's part of it:
    [to_boris] = [part for user_id, part in events.per_user(update) if user_id == boris.pk]
    frame = events.thread_frame(to_boris)
    assert frame["thread"] == thread.pk
    assert frame["total"] == 1
    assert frame["outgoing"] is False
    assert frame["partner"] == "anna"


def test_a_failing_fan_out_does_not_fail_the_sender(
    anna, thread, anna_client, django_capture_on_commit_callbacks
):
    """The message is saved before the fan-out; an error there is logged, not raised."""
    with (
        mock.patch.object(services.events, "group_send_many", side_effect=RuntimeError),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = anna_client.post(
            "/messages/send_message/", {"recipient": "boris", "text": "hi"}
        )
    assert response.status_code == 302
    assert Message.objects.count() == 1


def test_a_resent_client_id_returns_the_original_and_announces_nothing(
    anna, thread, django_capture_on_commit_callbacks
):
    first = message_create(sender=anna, thread=thread, text="раз", client_id="c-1")
    thread.refresh_from_db()
    bumped = thread.last_message
    with django_capture_on_commit_callbacks() as callbacks:
        again = message_create(sender=anna, thread=thread, text="раз", client_id="c-1")
    assert again == first
    assert callbacks == []
    assert Message.objects.count() == 1
    thread.refresh_from_db()
    assert thread.last_message == bumped


def test_a_caller_that_knows_the_participants_saves_the_queries(anna, boris, thread):
    """
    Given the participants, a message costs its writes and nothing more: the
    thread (lock, time, count), the message (with the id before it), and the
    participants' counts with their unread totals. On PostgreSQL three
    prepared statements sent as one query, which read what they need from
    each other's rows; on SQLite, which has no data-modifying WITH, one at a
    time, with a SELECT of the previous id and the sender's unread count.
    """
    participants = {anna.pk: "anna", boris.pk: "boris"}
    with CaptureQueriesContext(connection) as queries:
        message_create(
            sender=anna, thread=thread, text="hi", client_id="c-2", participants=participants
        )
    statements = [q["sql"].split(None, 1)[0] for q in queries.captured_queries]
    statements = [s for s in statements if s not in ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")]
    if connection.vendor == "postgresql":
        # One query: the three prepared statements, executed by name.
        (query,) = [q["sql"] for q in queries.captured_queries if "pm_message" in q["sql"]]
        assert query.count("EXECUTE") == 3
        assert prepared_statements() == MESSAGE_STATEMENTS
    else:
        assert statements == ["UPDATE", "SELECT", "INSERT", "UPDATE", "UPDATE"]


def prepared_statements() -> set[str]:
    """The names of the message's statements prepared on this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'pm_message%%'")
        return {row[0] for row in cursor.fetchall()}


# The statements of a message to a thread of two.
MESSAGE_STATEMENTS = {"pm_message_lock", "pm_message_insert", "pm_message_counts_2"}


def test_a_message_to_a_deleted_thread_is_refused(anna, boris, thread):
    participants = {anna.pk: "anna", boris.pk: "boris"}
    Thread.objects.filter(pk=thread.pk).delete()
    with pytest.raises(MessageError) as error:
        message_create(sender=anna, thread=thread, text="hi", participants=participants)
    assert error.value.code == "not_participant"
    assert Message.objects.count() == 0


def test_a_chat_event_carries_the_text_each_socket_sends(anna, boris, thread):
    message = message_create(sender=anna, thread=thread, text="тест", client_id="c-3")
    payload = events.message_payload(message, client_id="c-3")
    event = events.chat_message_event(payload, prev_id=0)
    for user in (anna, boris):
        expected = events.message_for_user(payload, user.pk)
        assert json.loads(events.message_text_for_user(event, user.pk)) == expected
    # An event built without its texts (another process) is serialised on delivery.
    bare = {"type": "chat.message", "message": payload, "prev_id": 0}
    assert json.loads(events.message_text_for_user(bare, boris.pk))["client_id"] is None
