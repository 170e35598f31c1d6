import pytest

from privatemessages import selectors
from privatemessages.models import Message


@pytest.fixture
def staff_client(admin_client):
    return admin_client


def test_thread_and_message_lists_render(staff_client, anna, thread, send):
    send(anna, thread, "Текст для админки")
    assert staff_client.get("/admin/privatemessages/thread/").status_code == 200
    response = staff_client.get("/admin/privatemessages/message/")
    assert response.status_code == 200
    assert "Текст для админки" in response.content.decode()
    assert (
        staff_client.get(f"/admin/privatemessages/thread/{thread.pk}/change/").status_code == 200
    )
    message = Message.objects.get()
    assert (
        staff_client.get(f"/admin/privatemessages/message/{message.pk}/change/").status_code == 200
    )


def test_the_admin_creates_no_messages_or_threads(staff_client):
    """Every message goes through the service; the admin has no "add" for either."""
    assert staff_client.get("/admin/privatemessages/message/add/").status_code == 403
    assert staff_client.get("/admin/privatemessages/thread/add/").status_code == 403


def test_moderator_can_edit_a_text(staff_client, anna, thread, send):
    message = send(anna, thread, "грубость")
    response = staff_client.post(
        f"/admin/privatemessages/message/{message.pk}/change/", {"text": "[удалено модератором]"}
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.text == "[удалено модератором]"
    assert message.sender == anna


def test_deleting_messages_keeps_counters_right(staff_client, anna, boris, thread, send):
    old = send(anna, thread, "старое")
    send(boris, thread, "новое")
    assert selectors.chat_for_participant(thread_id=thread.pk, user=anna).total == 2
    response = staff_client.post(
        "/admin/privatemessages/message/",
        {"action": "delete_selected", "_selected_action": [old.pk], "post": "yes"},
    )
    assert response.status_code == 302
    chat = selectors.chat_for_participant(thread_id=thread.pk, user=anna)
    assert (chat.total, chat.sent, chat.received) == (1, 0, 1)


def test_deleting_a_thread_deletes_its_messages(staff_client, anna, thread, send):
    send(anna, thread, "hi")
    selectors.chat_for_participant(thread_id=thread.pk, user=anna)
    response = staff_client.post(
        f"/admin/privatemessages/thread/{thread.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert Message.objects.count() == 0
