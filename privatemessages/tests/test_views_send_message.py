import pytest
from django.test import Client

from privatemessages.models import Message, Thread
from privatemessages.services import thread_get_or_create_for_pair

URL = "/messages/send_message/"


def test_first_message_creates_the_thread_and_redirects_to_the_chat(anna, boris, anna_client):
    response = anna_client.post(URL, {"recipient": "boris", "text": "  Привет!  "})
    thread = Thread.objects.get()
    assert response.status_code == 302
    assert response["Location"] == thread.get_absolute_url()
    assert set(thread.participants.all()) == {anna, boris}
    message = Message.objects.get()
    assert (message.thread, message.sender, message.text) == (thread, anna, "Привет!")
    assert thread.last_message == message.created


def test_next_message_goes_to_the_same_thread(anna, boris, anna_client, boris_client):
    anna_client.post(URL, {"recipient": "boris", "text": "1"})
    boris_client.post(URL, {"recipient": "anna", "text": "2"})
    anna_client.post(URL, {"recipient": " boris ", "text": "3"})
    assert Thread.objects.count() == 1
    assert list(Message.objects.values_list("text", flat=True)) == ["1", "2", "3"]


def test_longest_allowed_text_is_accepted(boris, anna_client):
    response = anna_client.post(URL, {"recipient": "boris", "text": "я" * 10_000})
    assert response.status_code == 302
    assert len(Message.objects.get().text) == 10_000


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"recipient": "boris", "text": ""}, "text", "Сообщение не может быть пустым."),
        ({"recipient": "boris", "text": " \n\t "}, "text", "Сообщение не может быть пустым."),
        ({"recipient": "boris"}, "text", "Сообщение не может быть пустым."),
        ({"recipient": "boris", "text": "я" * 10_001}, "text", "длиннее 10000 символов"),
        ({"recipient": "nobody", "text": "Привет"}, "recipient", "Такого пользователя нет."),
        ({"recipient": "anna", "text": "Привет"}, "recipient", "самому себе"),
        ({"recipient": "", "text": "Привет"}, "recipient", "Укажите получателя."),
        ({"recipient": "boris", "text": "a\x00b"}, "text", "Null"),
    ],
)
def test_rejections_are_shown_on_the_form_with_the_text_kept(
    boris, anna_client, parse_html, data, field, error
):
    response = anna_client.post(URL, data)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert Message.objects.count() == 0
    assert Thread.objects.count() == 0
    page = parse_html(response)
    errors = page.by_id[f"new-message-{field}-errors"]["text"]
    if error == "Null":
        assert errors.strip()
    else:
        assert error in errors
    assert page.by_id[f"new-message-{field}"]["attrs"]["aria-invalid"] == "true"
    # What was typed is still there.
    assert page.by_id["new-message-text"]["text"] == data.get("text", "")
    assert page.by_id["new-message-recipient"]["attrs"]["value"] == data["recipient"]
    # ... on the full thread list page, not a bare text page.
    assert "threads" in page.by_id


def chat_send_url(thread) -> str:
    return f"/messages/chat/{thread.pk}/send/"


def test_errors_from_the_chat_page_are_shown_on_the_chat(anna, anna_client, thread, parse_html):
    """The chat form posts to its thread; a refused text comes back on the chat, kept."""
    response = anna_client.post(chat_send_url(thread), {"text": "я" * 10_001})
    page = parse_html(response)
    assert response.status_code == 200
    assert page.by_id["chat"]["attrs"]["data-thread-id"] == str(thread.pk)
    assert "длиннее 10000 символов" in page.by_class["form__errors"][0]["text"]
    assert page.by_id["compose-text"]["text"] == "я" * 10_001
    assert page.by_id["compose-text"]["attrs"]["aria-invalid"] == "true"


def test_posting_to_someone_elses_thread_is_404_and_sends_nothing(make_user, boris, carol_client):
    """As for the chat page itself: a thread of others answers like a missing one."""
    others = thread_get_or_create_for_pair(user=boris, other=make_user())
    response = carol_client.post(chat_send_url(others), {"text": "hi"})
    assert response.status_code == 404
    assert carol_client.post("/messages/chat/999999/send/", {"text": "hi"}).status_code == 404
    assert Message.objects.count() == 0


def test_success_from_the_chat_page_redirects_back_to_it(anna, boris, anna_client, thread):
    """The message goes to the thread in the URL; no recipient is looked up."""
    response = anna_client.post(chat_send_url(thread), {"text": "  hi  "})
    assert response["Location"] == thread.get_absolute_url()
    message = Message.objects.get()
    assert (message.thread, message.sender, message.text) == (thread, anna, "hi")


def test_the_chat_form_needs_post_login_and_csrf(anna, client, thread):
    assert client.post(chat_send_url(thread), {"text": "hi"}).status_code == 302
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(anna)
    assert csrf_client.post(chat_send_url(thread), {"text": "hi"}).status_code == 403
    csrf_client.force_login(anna)
    assert csrf_client.get(chat_send_url(thread)).status_code == 405
    assert Message.objects.count() == 0


def test_get_is_not_allowed(anna_client):
    assert anna_client.get(URL).status_code == 405


def test_anonymous_user_is_sent_to_login(client, boris):
    response = client.post(URL, {"recipient": "boris", "text": "hi"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Message.objects.count() == 0


def test_csrf_token_is_required(anna, boris):
    client = Client(enforce_csrf_checks=True)
    client.force_login(anna)
    response = client.post(URL, {"recipient": "boris", "text": "hi"})
    assert response.status_code == 403
    assert Message.objects.count() == 0


def test_form_on_the_page_posts_with_its_csrf_token(anna, boris):
    """The real page round trip, with CSRF checks on: what a browser without JS does."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(anna)
    page = client.get("/messages/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(URL, {"recipient": "boris", "text": "hi", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Message.objects.get().text == "hi"


@pytest.mark.parametrize("thread_id", ["abc", "-1", "", "9" * 40, "١٢"])
def test_a_bad_thread_id_does_not_stop_the_message(boris, anna_client, thread_id):
    response = anna_client.post(URL, {"recipient": "boris", "text": "hi", "thread": thread_id})
    assert response.status_code == 302
    assert Message.objects.count() == 1
