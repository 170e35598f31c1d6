"""
A message is dated under its thread's lock: its ``created`` is the thread's
``last_message``, and a message that waited for the lock is dated after the
one that held it, so ``last_message`` never goes back.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from privatemessages.models import Message, Thread
from privatemessages.services import message_create, thread_get_or_create_for_pair


def test_created_is_the_threads_last_message_as_stored(anna, boris, thread):
    """The message's time and the thread's are one value, as the database holds them."""
    message = message_create(sender=anna, thread=thread, text="раз")
    stored = Message.objects.get(pk=message.pk)
    assert stored.created == message.created == thread.last_message
    assert Thread.objects.get(pk=thread.pk).last_message == stored.created
    assert stored.created.tzinfo is not None


def test_later_messages_are_never_dated_earlier(anna, boris, thread):
    """In commit order, times do not go back."""
    times = [message_create(sender=anna, thread=thread, text=str(i)).created for i in range(5)]
    assert times == sorted(times)


@pytest.mark.django_db(transaction=True)
def test_a_message_that_waited_for_the_lock_is_dated_after_the_holder_committed(make_user):
    """The time is taken once the lock is got, not when the sender started waiting."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises writers")
    anna, boris = make_user(), make_user()
    thread = thread_get_or_create_for_pair(user=anna, other=boris)
    holding, release = threading.Event(), threading.Event()
    result, errors = {}, []

    def hold_the_lock():
        try:
            with transaction.atomic():
                result["first"] = message_create(sender=anna, thread=thread, text="1")
                holding.set()
                release.wait(10)
                result["committing_at"] = timezone.now()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            holding.set()
            connections.close_all()

    def wait_for_the_lock():
        try:
            holding.wait(10)
            result["second"] = message_create(sender=boris, thread=thread, text="2")
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=hold_the_lock), threading.Thread(target=wait_for_the_lock)]
    for worker in workers:
        worker.start()
    holding.wait(10)
    time.sleep(0.3)  # the second sender is now waiting for the row lock
    release.set()
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    first, second = result["first"], result["second"]
    assert first.created < result["committing_at"] <= second.created
    assert Thread.objects.get(pk=thread.pk).last_message == second.created
