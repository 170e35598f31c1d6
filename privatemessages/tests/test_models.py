import pytest
from django.db import IntegrityError, transaction

from privatemessages.models import Message, Thread


def test_pair_key_is_the_same_whichever_user_comes_first():
    assert Thread.pair_key_for(7, 3) == Thread.pair_key_for(3, 7) == "3:7"


def test_database_refuses_a_second_thread_for_a_pair(thread, anna, boris):
    with pytest.raises(IntegrityError), transaction.atomic():
        Thread.objects.create(pair_key=Thread.pair_key_for(boris.pk, anna.pk))


def test_group_threads_without_pair_key_are_allowed(db):
    Thread.objects.create()
    Thread.objects.create()
    assert Thread.objects.filter(pair_key__isnull=True).count() == 2


def test_times_are_indexed():
    assert Thread._meta.get_field("last_message").db_index
    assert Message._meta.get_field("created").db_index
    assert any(index.fields == ["thread", "id"] for index in Message._meta.indexes)


def test_thread_url(thread):
    assert thread.get_absolute_url() == f"/messages/chat/{thread.pk}/"


def test_string_forms(thread, anna):
    message = Message.objects.create(thread=thread, sender=anna, text="hi")
    assert str(thread) == f"Thread #{thread.pk} ({thread.pair_key})"
    assert str(message) == f"Message #{message.pk} in thread {thread.pk}"


def test_deleting_a_thread_deletes_its_messages(thread, anna):
    Message.objects.create(thread=thread, sender=anna, text="hi")
    thread.delete()
    assert Message.objects.count() == 0
