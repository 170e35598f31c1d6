"""
The counters: "total" and "sent by user X" per thread. They are columns counted
in the transaction that saves each message, so they equal the database's
counts whatever happens to announcements, Redis or the users.
"""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Count

from privatemessages import events, selectors
from privatemessages.models import Membership, Message, Thread
from privatemessages.services import (
    message_create,
    thread_counts_rebuild,
    thread_get_or_create_for_pair,
)


def database_counts(thread) -> tuple[int, dict[int, int]]:
    rows = Message.objects.filter(thread=thread).values("sender_id").annotate(n=Count("id"))
    by_sender = {row["sender_id"]: row["n"] for row in rows}
    return sum(by_sender.values()), by_sender


def assert_counts_match_database(user, thread):
    total, by_sender = database_counts(thread)
    chat = selectors.chat_for_participant(thread_id=thread.pk, user=user)
    assert chat.total == total
    assert chat.sent == by_sender.get(user.pk, 0)
    assert chat.received == total - by_sender.get(user.pk, 0)
    [summary] = [s for s in selectors.thread_list_for_user(user=user).threads if s.pk == thread.pk]
    assert summary.total == total


@pytest.fixture
def conversation(anna, boris, thread, send):
    for i in range(7):
        send(anna if i % 3 else boris, thread, f"#{i}")
    return thread


def test_counts_equal_the_database(anna, boris, conversation):
    """Total, sent and received equal the rows, on the chat page and the list."""
    assert_counts_match_database(anna, conversation)
    assert_counts_match_database(boris, conversation)
    assert selectors.chat_for_participant(thread_id=conversation.pk, user=anna).sent == 4


def test_counts_of_several_threads_at_once(anna, boris, carol, thread, send):
    """Each line of the thread list has its own thread's total."""
    other = thread_get_or_create_for_pair(user=carol, other=anna)
    send(anna, thread, "1")
    send(carol, other, "2")
    send(carol, other, "3")
    totals = {s.pk: s.total for s in selectors.thread_list_for_user(user=anna).threads}
    assert totals == {thread.pk: 1, other.pk: 2}
    chat = selectors.chat_for_participant(thread_id=other.pk, user=anna)
    assert (chat.sent, chat.received) == (0, 2)


def test_thread_without_messages_counts_zero(anna, thread):
    """A new thread counts nothing."""
    assert selectors.chat_for_participant(thread_id=thread.pk, user=anna).total == 0
    assert_counts_match_database(anna, thread)


def test_announcements_carry_the_exact_total(anna, boris, thread, send, monkeypatch):
    """Each thread-list update carries the count of the transaction that saved it."""
    totals = []
    monkeypatch.setattr(
        events,
        "broadcast_message_created",
        lambda message, *, total, **kwargs: totals.append(total),
    )
    for i in range(3):
        send(anna if i % 2 else boris, thread, f"#{i}")
    assert totals == [1, 2, 3]


def test_a_lost_or_reordered_announcement_cannot_skew_the_counts(
    anna, boris, thread, django_capture_on_commit_callbacks
):
    """
    Message N+1 announced before N, and N's announcement lost: the counts stay
    those of the database (the Redis counters of before stayed one short).
    """
    with django_capture_on_commit_callbacks(execute=False) as first:
        message_create(sender=anna, thread=thread, text="N")
    with django_capture_on_commit_callbacks(execute=True):
        message_create(sender=boris, thread=thread, text="N+1")
    assert len(first) == 1  # never run: N's announcement is lost
    assert_counts_match_database(anna, thread)
    assert_counts_match_database(boris, thread)


def test_a_resent_client_id_is_counted_once(anna, thread, send):
    """The rolled-back insert of a resend also rolls back its count."""
    message_create(sender=anna, thread=thread, text="раз", client_id="c-1")
    message_create(sender=anna, thread=thread, text="раз", client_id="c-1")
    assert_counts_match_database(anna, thread)
    assert selectors.chat_for_participant(thread_id=thread.pk, user=anna).total == 1


def test_rebuild_counts_again_after_deletions(anna, boris, conversation):
    """Deleting rows outside message_create is repaired by thread_counts_rebuild."""
    Message.objects.filter(thread=conversation, sender=anna)[:1].get().delete()
    thread_counts_rebuild(thread_ids=[conversation.pk])
    assert_counts_match_database(anna, conversation)
    assert_counts_match_database(boris, conversation)


def test_deleting_a_user_keeps_the_partners_history_and_counts(
    anna, boris, carol, conversation, send
):
    """
    A user deleted outside the chat's admin: their messages stay in the partner's
    history, shown as from a deleted account, the counts stay exact, and the
    partner's other conversations are untouched.
    """
    other = thread_get_or_create_for_pair(user=anna, other=carol)
    send(carol, other, "от Карол")
    total_before, by_sender = database_counts(conversation)
    get_user_model().objects.filter(pk=boris.pk).delete()

    assert Message.objects.filter(thread=conversation).count() == total_before
    assert Message.objects.filter(thread=conversation, sender=None).count() == by_sender[boris.pk]
    assert_counts_match_database(anna, conversation)
    chat = selectors.chat_for_participant(thread_id=conversation.pk, user=anna)
    assert chat.partner is None
    assert [m.sender for m in chat.messages].count(None) == by_sender[boris.pk]
    assert Message.objects.filter(thread=other).count() == 1
    assert_counts_match_database(anna, other)
    payload = events.stored_message_payload(chat.messages[0])
    assert payload["sender"] is None
    assert payload["sender_id"] is None


def test_the_chat_page_shows_a_deleted_account(anna, boris, conversation, make_client):
    """The partner's deleted account is named as such, on the chat page and the list."""
    get_user_model().objects.filter(pk=boris.pk).delete()
    client = make_client(anna)
    chat = client.get(conversation.get_absolute_url())
    assert chat.status_code == 200
    assert chat.content.decode().count("(пользователь удалён)") >= 2
    listing = client.get("/messages/")
    assert "(пользователь удалён)" in listing.content.decode()


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_are_counted_exactly(make_user):
    """Many senders on many database connections at once: the counts equal the rows."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises writers")
    anna, boris = make_user(), make_user()
    thread = thread_get_or_create_for_pair(user=anna, other=boris)
    barrier = threading.Barrier(8)
    errors = []

    def run(sender):
        try:
            barrier.wait(timeout=10)
            for i in range(25):
                message_create(sender=sender, thread=thread, text=f"#{i}")
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run, args=(u,)) for u in [anna, boris] * 4]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert Thread.objects.get(pk=thread.pk).message_count == 200
    sent = dict(Membership.objects.filter(thread=thread).values_list("user_id", "sent_count"))
    assert sent == {anna.pk: 100, boris.pk: 100}
    assert_counts_match_database(anna, thread)
