"""
Read positions and unread counts (privatemessages/unread.py and the message
statements): exact after every send and read, never moving back, and exact
under concurrent sends and reads (real threads on PostgreSQL).
"""

import random
import threading

import pytest
from django.db import connection, connections
from django.db.models import Q, Sum

from privatemessages import services, unread
from privatemessages.models import ChatProfile, Membership, Message


def recount(user, thread) -> int:
    member = Membership.objects.get(thread=thread, user=user)
    return (
        Message.objects.filter(thread=thread, id__gt=member.last_read_id)
        .filter(~Q(sender=user) | Q(sender=None))
        .count()
    )


def assert_exact(*users):
    """Every stored count and total of *users* is what their rows say."""
    for user in users:
        for member in Membership.objects.filter(user=user).select_related("thread"):
            assert member.unread_count == recount(user, member.thread), member
        total = Membership.objects.filter(user=user).aggregate(n=Sum("unread_count"))["n"] or 0
        stored = ChatProfile.objects.filter(user=user).values_list("unread_total", flat=True)
        assert next(iter(stored), 0) == total


def read(user, thread, up_to):
    return unread.thread_mark_read(user_id=user.pk, thread_id=thread.pk, up_to=up_to)


@pytest.mark.django_db
def test_a_message_is_unread_for_the_receiver_and_read_by_its_sender(anna, boris, thread, send):
    first = send(anna, thread, "раз")
    send(anna, thread, "два")
    assert Membership.objects.get(thread=thread, user=boris).unread_count == 2
    sender = Membership.objects.get(thread=thread, user=anna)
    assert (sender.unread_count, sender.last_read_id) == (0, first.pk + 1)
    assert ChatProfile.objects.get(user=boris).unread_total == 2
    # Sending reads everything before: boris answers, his count goes to 0.
    send(boris, thread, "ответ")
    assert Membership.objects.get(thread=thread, user=boris).unread_count == 0
    assert ChatProfile.objects.get(user=boris).unread_total == 0
    assert_exact(anna, boris)


@pytest.mark.django_db
def test_reading_moves_forward_only_and_counts_what_is_left(
    anna, boris, thread, send, django_capture_on_commit_callbacks
):
    messages = [send(anna, thread, str(n)) for n in range(5)]
    state = read(boris, thread, messages[2].pk)
    assert (state.last_read_id, state.unread, state.unread_total) == (messages[2].pk, 2, 2)
    version = state.version
    assert read(boris, thread, messages[1].pk) is None  # late, older: nothing moves
    assert read(boris, thread, messages[2].pk) is None
    state = read(boris, thread, messages[-1].pk + 10)  # clamped to the newest
    assert (state.last_read_id, state.unread, state.unread_total) == (messages[-1].pk, 0, 0)
    assert state.version > version
    assert_exact(anna, boris)


@pytest.mark.django_db
def test_the_read_is_announced_after_commit(
    anna, boris, thread, send, django_capture_on_commit_callbacks, monkeypatch
):
    message = send(anna, thread)
    announced = []
    monkeypatch.setattr(
        unread.events, "broadcast_read", lambda state, **kw: announced.append((state, kw))
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        read(boris, thread, message.pk)
    assert announced == []
    callbacks[0]()
    [(state, kwargs)] = announced
    assert state.user_id == boris.pk
    assert kwargs == {"announce_receipt": True}


@pytest.mark.django_db
def test_deleting_messages_recounts_the_unread(anna, boris, thread, send):
    messages = [send(anna, thread, str(n)) for n in range(3)]
    Message.objects.filter(pk=messages[1].pk).delete()
    services.thread_counts_rebuild(thread_ids=[thread.pk])
    assert Membership.objects.get(thread=thread, user=boris).unread_count == 2
    assert ChatProfile.objects.get(user=boris).unread_total == 2
    assert_exact(anna, boris)


@pytest.mark.django_db
def test_recounting_messages_made_without_the_service_keeps_totals_right(anna, boris, thread):
    """Rows inserted in bulk (an import, a seed) count once recounted; reads then add up."""
    Message.objects.bulk_create(Message(thread=thread, sender=anna, text=str(n)) for n in range(5))
    services.thread_counts_rebuild(thread_ids=[thread.pk])
    assert ChatProfile.objects.get(user=boris).unread_total == 5
    newest = Message.objects.filter(thread=thread).order_by("-id").first()
    assert read(boris, thread, newest.pk).unread_total == 0
    assert_exact(anna, boris)


@pytest.mark.django_db
def test_a_deleted_senders_messages_stay_unread(anna, boris, thread, send):
    send(anna, thread)
    anna.delete()
    assert recount(boris, thread) == 1
    assert Membership.objects.get(thread=thread, user=boris).unread_count == 1


@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_under_concurrent_sends_and_reads(anna, boris, carol, make_user):
    """
    Two people write to boris in two threads while he reads both from two
    devices, positions arriving in any order; every count ends up exact.
    """
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises writers")
    with_anna = services.thread_get_or_create_for_pair(user=anna, other=boris)
    with_carol = services.thread_get_or_create_for_pair(user=carol, other=boris)
    errors = []

    def run(job):
        try:
            job()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    def writer(sender, thread):
        def job():
            for n in range(60):
                services.message_create(sender=sender, thread=thread, text=f"{n}")

        return job

    def reader(seed):
        def job():
            rng = random.Random(seed)
            for _ in range(80):
                thread = rng.choice([with_anna, with_carol])
                newest = Message.objects.filter(thread=thread).order_by("-id").first()
                if newest is not None:
                    # Sometimes an old position, as a late frame would carry.
                    read(boris, thread, max(1, newest.pk - rng.choice([0, 0, 5, 50])))

        return job

    jobs = [writer(anna, with_anna), writer(carol, with_carol), reader(1), reader(2)]
    workers = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert_exact(anna, boris, carol)
    assert ChatProfile.objects.get(user=boris).unread_total == sum(
        recount(boris, thread) for thread in (with_anna, with_carol)
    )
