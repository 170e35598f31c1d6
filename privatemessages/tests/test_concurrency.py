"""
Two first messages of a pair sent at the same moment end up in one thread.
Real threads against a real PostgreSQL (SQLite serialises writers anyway).
"""

import threading
from unittest import mock

import pytest
from django.db import connection, connections

from privatemessages.models import Message, Thread
from privatemessages.services import message_send_to_username, thread_get_or_create_for_pair

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


def run_at_once(*calls):
    """
    Run each call in its own thread with its own database connection. Both
    pass the "does the thread exist?" lookup before either inserts: the
    insert waits at a barrier, so the race is lost every time, not by luck.
    """
    barrier = threading.Barrier(len(calls))
    real_create = Thread.objects.create
    results, errors, creates = [None] * len(calls), [], []

    def create_after_all_looked(**kwargs):
        creates.append(kwargs)
        barrier.wait(timeout=10)
        return real_create(**kwargs)

    def run(index, call):
        try:
            results[index] = call()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    with mock.patch.object(Thread.objects, "create", side_effect=create_after_all_looked):
        workers = [
            threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
    assert errors == []
    assert len(creates) == len(calls)  # every call really tried to insert
    return results


def test_concurrent_thread_get_or_create_returns_one_thread(make_user):
    for _ in range(5):
        anna, boris = make_user(), make_user()
        first, second = run_at_once(
            lambda a=anna, b=boris: thread_get_or_create_for_pair(user=a, other=b),
            lambda a=anna, b=boris: thread_get_or_create_for_pair(user=b, other=a),
        )
        assert first.pk == second.pk
        assert Thread.objects.filter(participants=anna).filter(participants=boris).count() == 1
        assert set(first.participants.all()) == {anna, boris}


def test_two_first_messages_at_once_share_one_thread(make_user):
    anna, boris = make_user(), make_user()
    to_boris, to_anna = run_at_once(
        lambda: message_send_to_username(
            sender=anna, recipient_username=boris.username, text="Привет!"
        ),
        lambda: message_send_to_username(
            sender=boris, recipient_username=anna.username, text="Здравствуй!"
        ),
    )
    assert to_boris.thread_id == to_anna.thread_id
    assert Thread.objects.count() == 1
    assert Message.objects.filter(thread_id=to_boris.thread_id).count() == 2
