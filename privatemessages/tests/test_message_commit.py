"""
A message saved outside any transaction on PostgreSQL (a socket's, a view's):
its three prepared statements sent as one query, which the server runs as one
transaction (message_sql.insert_and_commit), announced after the commit. Other
tests run inside a test transaction, where message_create joins it instead;
these run as the server does.
"""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg.pq import TransactionStatus

from privatemessages import events, message_sql
from privatemessages.models import ChatProfile, Membership, Message, Thread
from privatemessages.services import MessageError, message_create

from .realtime_fixtures import needs_real_services
from .test_services import MESSAGE_STATEMENTS, prepared_statements

pytestmark = [pytest.mark.django_db(transaction=True), needs_real_services("PostgreSQL")]


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def announced():
    with mock.patch.object(events, "broadcast_message_created") as broadcast:
        yield broadcast


def idle() -> bool:
    return connection.connection.info.transaction_status == TransactionStatus.IDLE


def test_a_message_commits_in_one_query_and_is_announced_after(anna, boris, thread, announced):
    assert message_sql.commits_alone()
    participants = {anna.pk: "anna", boris.pk: "boris"}
    with CaptureQueriesContext(connection) as queries:
        first = message_create(
            sender=anna, thread=thread, text="one", client_id="c-1", participants=participants
        )
    # One query, which the server runs as one transaction: no BEGIN, no COMMIT.
    # (Then the skills' directory may be read, by the bots hook.)
    query = queries.captured_queries[0]["sql"]
    assert query.count("EXECUTE pm_message_") == 3
    assert "BEGIN" not in query
    assert "COMMIT" not in query
    assert prepared_statements() == MESSAGE_STATEMENTS
    assert idle()
    # Announced once, with what the statements returned, after the commit.
    (call,) = announced.call_args_list
    assert call.args[0].pk == first.pk
    assert call.kwargs["client_id"] == "c-1"
    assert call.kwargs["prev_id"] == 0
    assert call.kwargs["total"] == 1
    assert call.kwargs["unread"] == {anna.pk: 0, boris.pk: 1}
    assert call.kwargs["totals"] == {boris.pk: (1, 1)}
    assert Message.objects.get(pk=first.pk).created == first.created
    assert Thread.objects.get(pk=thread.pk).last_message == first.created

    second = message_create(sender=boris, thread=thread, text="two")
    call = announced.call_args_list[-1]
    assert call.kwargs["prev_id"] == first.pk
    assert call.kwargs["client_id"] is None
    # Boris read anna's message by answering: his total goes back to 0.
    assert call.kwargs["unread"] == {anna.pk: 1, boris.pk: 0}
    assert call.kwargs["totals"] == {anna.pk: (1, 1), boris.pk: (0, 2)}
    members = {m.user_id: m for m in Membership.objects.filter(thread=thread)}
    assert members[boris.pk].last_read_id == second.pk
    assert (members[anna.pk].sent_count, members[boris.pk].sent_count) == (1, 1)


def test_a_resent_client_id_saves_nothing_and_leaves_the_connection_usable(
    anna, thread, announced
):
    first = message_create(sender=anna, thread=thread, text="one", client_id="same")
    again = message_create(sender=anna, thread=thread, text="one", client_id="same")
    assert again.pk == first.pk
    assert idle()
    assert Message.objects.count() == 1
    # The failed insert's transaction was rolled back whole: the count too.
    assert Thread.objects.get(pk=thread.pk).message_count == 1
    assert len(announced.call_args_list) == 1


def test_a_deleted_thread_is_refused_with_nothing_saved(anna, boris, thread, announced):
    participants = {anna.pk: "anna", boris.pk: "boris"}
    Thread.objects.filter(pk=thread.pk).delete()
    with pytest.raises(MessageError) as error:
        message_create(sender=anna, thread=thread, text="hi", participants=participants)
    assert error.value.code == "not_participant"
    assert idle()
    assert Message.objects.count() == 0
    assert not announced.called


def test_a_participant_without_a_profile_gets_one_in_the_same_transaction(
    anna, boris, thread, announced
):
    ChatProfile.objects.filter(user=boris).delete()
    message_create(sender=anna, thread=thread, text="hi")
    profile = ChatProfile.objects.get(user=boris)
    assert (profile.unread_total, profile.unread_version) == (1, 1)
    assert announced.call_args.kwargs["totals"][boris.pk] == (1, 1)


def test_statements_deallocated_under_the_connection_are_prepared_again(anna, thread, announced):
    """Something ran DISCARD ALL on the pooled connection: the message is still saved, once."""
    message_create(sender=anna, thread=thread, text="one")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    message_create(sender=anna, thread=thread, text="two")
    assert list(Message.objects.values_list("text", flat=True).order_by("pk")) == ["one", "two"]
    assert Thread.objects.get(pk=thread.pk).message_count == 2
    assert prepared_statements() == MESSAGE_STATEMENTS


def test_a_failed_announcement_does_not_fail_the_saved_message(anna, thread, caplog):
    with mock.patch.object(events, "broadcast_message_created", side_effect=RuntimeError("x")):
        message = message_create(sender=anna, thread=thread, text="hi")
    assert Message.objects.filter(pk=message.pk).exists()
    assert f"Could not announce message {message.pk}" in caplog.text
