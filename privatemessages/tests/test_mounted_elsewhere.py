"""
The app is reusable: mounted under another prefix (/chat/ here), its pages
render and link within that prefix, and its forms post there and work.
"""

import pytest

from privatemessages.models import Message, Thread

pytestmark = pytest.mark.urls("privatemessages.tests.urls_chat_prefix")


def test_thread_list_links_and_posts_within_the_prefix(anna, boris, anna_client, send, thread):
    """The list's links and its new-message form stay under /chat/."""
    send(boris, thread, "привет")
    page = anna_client.get("/chat/").content.decode()
    assert f'href="/chat/chat/{thread.pk}/"' in page
    assert 'action="/chat/send_message/"' in page
    # (The WebSocket path is the project's asgi.py routing, not this URLconf.)
    assert '"/messages/' not in page.replace('"/ws/messages/', "")


def test_new_message_form_posts_under_the_prefix(anna, boris, anna_client):
    response = anna_client.post("/chat/send_message/", {"recipient": "boris", "text": "hi"})
    thread = Thread.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/chat/chat/{thread.pk}/"
    assert Message.objects.get().text == "hi"


def test_chat_page_and_its_form_work_under_the_prefix(anna, anna_client, thread, parse_html):
    """The chat page links back to /chat/ and its form posts to /chat/chat/<id>/send/."""
    page = parse_html(anna_client.get(f"/chat/chat/{thread.pk}/"))
    assert page.by_class["chat__back"][0]["attrs"]["href"] == "/chat/"
    action = page.by_id["compose-form"]["attrs"]["action"]
    assert action == f"/chat/chat/{thread.pk}/send/"
    response = anna_client.post(action, {"text": "из формы"})
    assert response["Location"] == f"/chat/chat/{thread.pk}/"
    assert Message.objects.get().text == "из формы"


def test_the_old_prefix_is_not_served(anna_client, thread):
    assert anna_client.get("/messages/").status_code == 404
