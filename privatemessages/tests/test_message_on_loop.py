"""
A socket's message saved from the event loop (loop_db.py,
services.message_create_on_loop): the query of message_create on one of the
loop's own connections, committed in one round trip, and the same answers:
counts, order, idempotency per client_id, refusals. Each test runs its
coroutines on an event loop of its own and closes the loop's pool after.
"""

import asyncio
from unittest import mock

import pytest
from channels.layers import get_channel_layer

from privatemessages import events, loop_db, message_sql
from privatemessages.models import ChatProfile, Membership, Message, Thread
from privatemessages.services import MessageError, message_create_on_loop

from .realtime_fixtures import needs_real_services

# Skipped on SQLite, where the sockets save in database threads.
pytestmark = [pytest.mark.django_db(transaction=True), needs_real_services("PostgreSQL")]


@pytest.fixture
def announced():
    with mock.patch.object(
        events, "broadcast_message_created_on_loop", new_callable=mock.AsyncMock
    ) as broadcast:
        yield broadcast


@pytest.fixture
def pair(anna, boris) -> dict[int, str]:
    return {anna.pk: "anna", boris.pk: "boris"}


def on_loop(coroutine_function, *args, **kwargs):
    """Run coroutine_function(*args, **kwargs) on a new event loop; close its pool after."""

    async def run():
        try:
            return await coroutine_function(*args, **kwargs)
        finally:
            await loop_db.close_loop_pool()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


async def send(sender, thread, participants, text="hi", client_id=""):
    return await message_create_on_loop(
        sender=sender,
        thread=thread,
        text=text,
        client_id=client_id,
        participants=participants,
        redis_client=None,
    )


def test_saves_counts_and_announces_as_message_create_does(anna, boris, thread, pair, announced):
    async def two():
        return await send(anna, thread, pair, "one", "c-1"), await send(boris, thread, pair, "two")

    first, second = on_loop(two)
    (one, two) = announced.call_args_list
    assert one.args[0].pk == first.pk
    assert one.kwargs["client_id"] == "c-1"
    assert (one.kwargs["prev_id"], one.kwargs["total"]) == (0, 1)
    assert one.kwargs["unread"] == {anna.pk: 0, boris.pk: 1}
    assert one.kwargs["totals"] == {boris.pk: (1, 1)}
    assert two.kwargs["prev_id"] == first.pk
    assert two.kwargs["client_id"] is None
    # Boris read anna's message by answering: his total goes back to 0.
    assert two.kwargs["totals"] == {anna.pk: (1, 1), boris.pk: (0, 2)}
    stored = Message.objects.get(pk=first.pk)
    assert (stored.text, stored.client_id, stored.created) == ("one", "c-1", first.created)
    assert Thread.objects.get(pk=thread.pk).last_message == second.created
    assert Thread.objects.get(pk=thread.pk).message_count == 2
    members = {m.user_id: m for m in Membership.objects.filter(thread=thread)}
    assert members[boris.pk].last_read_id == second.pk
    assert (members[anna.pk].sent_count, members[boris.pk].sent_count) == (1, 1)
    assert ChatProfile.objects.get(user=anna).unread_total == 1


def test_a_resent_client_id_returns_the_first_message_and_saves_nothing(
    anna, thread, pair, announced
):
    async def twice():
        return await send(anna, thread, pair, "one", "same"), await send(
            anna, thread, pair, "one", "same"
        )

    first, again = on_loop(twice)
    assert again.pk == first.pk
    assert Message.objects.count() == 1
    # The failed insert's transaction was rolled back whole: the count too.
    assert Thread.objects.get(pk=thread.pk).message_count == 1
    assert len(announced.call_args_list) == 1


def test_a_client_id_used_in_another_thread_is_refused(anna, boris, carol, pair, announced):
    from privatemessages.services import thread_get_or_create_for_pair

    first = thread_get_or_create_for_pair(user=anna, other=boris)
    second = thread_get_or_create_for_pair(user=anna, other=carol)
    on_loop(send, anna, first, pair, "one", "reused")
    with pytest.raises(MessageError) as error:
        on_loop(send, anna, second, {anna.pk: "anna", carol.pk: "carol"}, "two", "reused")
    assert error.value.code == "duplicate_client_id"
    assert Message.objects.count() == 1


def test_a_deleted_thread_or_a_stranger_is_refused_with_nothing_saved(
    anna, carol, thread, pair, announced
):
    with pytest.raises(MessageError) as stranger:
        on_loop(send, carol, thread, pair)
    Thread.objects.filter(pk=thread.pk).delete()
    with pytest.raises(MessageError) as gone:
        on_loop(send, anna, thread, pair)
    assert (stranger.value.code, gone.value.code) == ("not_participant", "not_participant")
    assert Message.objects.count() == 0
    assert not announced.called


def test_statements_deallocated_under_the_loop_connection_are_prepared_again(
    anna, thread, pair, announced
):
    async def deallocated_between():
        await send(anna, thread, pair, "one")
        pool = await loop_db.loop_pool()
        async with pool.connection() as raw:
            await raw.execute("DEALLOCATE ALL")
        await send(anna, thread, pair, "two")

    on_loop(deallocated_between)
    assert list(Message.objects.values_list("text", flat=True).order_by("pk")) == ["one", "two"]
    assert Thread.objects.get(pk=thread.pk).message_count == 2


def test_a_send_cancelled_midway_is_still_saved_and_announced(anna, thread, pair, announced):
    """The sender's task cancelled (the server shutting down) while the query runs."""
    real = message_sql.insert_and_commit_on_loop
    started = asyncio.Event()

    async def started_then_saved(**fields):
        started.set()
        await asyncio.sleep(0.1)  # time for the cancel to land first
        return await real(**fields)

    async def cancelled_midway():
        sending = asyncio.ensure_future(send(anna, thread, pair, "ушла на полуслове"))
        await started.wait()
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert not announced.called
        async with asyncio.timeout(10):
            while not announced.called:  # the shielded work goes on
                await asyncio.sleep(0.01)

    with mock.patch.object(message_sql, "insert_and_commit_on_loop", started_then_saved):
        on_loop(cancelled_midway)
    assert Message.objects.filter(text="ушла на полуслове").count() == 1
    assert announced.call_count == 1


def test_a_failed_announcement_does_not_fail_the_saved_message(anna, thread, pair, caplog):
    failing = mock.AsyncMock(side_effect=RuntimeError("x"))
    with mock.patch.object(events, "broadcast_message_created_on_loop", failing):
        message = on_loop(send, anna, thread, pair)
    assert Message.objects.filter(pk=message.pk).exists()
    assert f"Could not announce message {message.pk}" in caplog.text


def test_the_thread_group_gets_the_message_with_its_predecessor(anna, boris, thread, pair):
    async def sent_and_received():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.thread_group(thread.pk), channel)
        try:
            first = await send(anna, thread, pair, "one", "c-1")
            second = await send(boris, thread, pair, "two")
            received = [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(2)]
        finally:
            await layer.group_discard(events.thread_group(thread.pk), channel)
        return first, second, received

    first, second, received = on_loop(sent_and_received)
    assert [event["type"] for event in received] == ["chat.message", "chat.message"]
    assert [event["message"]["id"] for event in received] == [first.pk, second.pk]
    assert [event["prev_id"] for event in received] == [0, first.pk]
    assert received[0]["message"]["client_id"] == "c-1"
    assert received[0]["message"]["text"] == "one"


def test_saves_on_loop_on_postgresql_unless_turned_off(settings):
    settings.PRIVATEMESSAGES_SAVE_ON_LOOP = True
    assert loop_db.saves_on_loop()
    settings.PRIVATEMESSAGES_SAVE_ON_LOOP = False
    assert not loop_db.saves_on_loop()
