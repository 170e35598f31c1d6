import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from privatemessages.models import Message
from privatemessages.services import message_create, thread_counts_rebuild


def test_anonymous_user_is_sent_to_login(client, thread):
    response = client.get(thread.get_absolute_url())
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={thread.get_absolute_url()}"


def test_non_participant_gets_404_like_a_missing_thread(carol_client, thread):
    assert carol_client.get(thread.get_absolute_url()).status_code == 404
    assert carol_client.get("/messages/chat/999999/").status_code == 404


@pytest.mark.parametrize("thread_id", ["0", "999999", str(2**63), "9" * 40])
def test_missing_or_absurd_thread_ids_are_404(anna_client, thread, thread_id):
    assert anna_client.get(f"/messages/chat/{thread_id}/").status_code == 404


def test_chat_page_keeps_the_dom_contract(anna, boris, anna_client, thread, send, parse_html):
    first = send(anna, thread, "Привет, Борис")
    last = send(boris, thread, "Привет, Анна")
    page = parse_html(anna_client.get(thread.get_absolute_url()))

    chat = page.by_id["chat"]["attrs"]
    assert chat["data-thread-id"] == str(thread.pk)
    assert chat["data-user-id"] == str(anna.pk)
    assert chat["data-username"] == "anna"
    assert chat["data-partner"] == "boris"
    assert chat["data-last-id"] == str(last.pk)
    assert chat["data-ws-path"] == f"/ws/messages/{thread.pk}/"

    state = page.by_id["connection-state"]["attrs"]
    assert "hidden" in state
    assert state["aria-live"] == "polite"

    assert page.by_id["count-total"]["text"] == "2"
    assert page.by_id["count-total-word"]["text"] == "сообщения"
    assert page.by_id["count-received"]["text"] == "1"
    assert page.by_id["count-sent"]["text"] == "1"
    counters = page.by_class["counters"][0]["text"]
    assert counters == "2 сообщения (1 получено, 1 отправлено)"

    assert page.by_id["message-list"]["tag"] == "ol"
    lines = page.by_class["message"]
    assert [line["attrs"]["data-id"] for line in lines] == [str(first.pk), str(last.pk)]
    assert [line["attrs"]["class"] for line in lines] == [
        "message message--own",
        "message message--partner",
    ]
    assert [a["text"] for a in page.by_class["message__author"]] == ["anna", "boris"]
    assert [t["text"] for t in page.by_class["message__text"]] == [
        "Привет, Борис",
        "Привет, Анна",
    ]

    form = page.by_id["compose-form"]["attrs"]
    assert form["method"] == "post"
    assert form["action"] == f"/messages/chat/{thread.pk}/send/"
    text = page.by_id["compose-text"]["attrs"]
    assert text["name"] == "text"
    assert text["maxlength"] == "10000"
    assert "required" in text
    assert page.by_id["compose-send"]["attrs"]["type"] == "submit"
    assert page.by_id["compose-send"]["text"] == "Отправить"
    assert "Ctrl+Enter — отправить" in page.by_id["compose-hint"]["text"]


def test_chat_page_loads_the_scripts_in_order(anna_client, thread):
    content = anna_client.get(thread.get_absolute_url()).content.decode()
    catalog = content.index('src="/jsi18n/"')
    socket = content.index('src="/static/privatemessages/socket.js"')
    chat = content.index('src="/static/privatemessages/chat.js"')
    time = content.index('src="/static/privatemessages/time.js"')
    # The translation catalog (gettext, ngettext) before every script that uses it.
    assert catalog < time < chat
    assert catalog < socket < chat
    # The form posts to its thread: no partner to look up by name again.
    assert 'name="recipient"' not in content


def test_message_time_format(anna, anna_client, thread, parse_html):
    import datetime as dt

    Message.objects.create(
        thread=thread,
        sender=anna,
        text="x",
        created=dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    )
    time = parse_html(anna_client.get(thread.get_absolute_url())).by_class["message__time"][0]
    assert time["text"] == "03.02.2024 07:05:06"  # Europe/Moscow, the server zone
    assert time["attrs"]["datetime"] == "2024-02-03T04:05:06Z"


def test_only_the_last_100_messages_oldest_first(anna, boris, anna_client, thread, parse_html):
    Message.objects.bulk_create(
        Message(thread=thread, sender=anna if i % 3 else boris, text=f"#{i}") for i in range(130)
    )
    thread_counts_rebuild(thread_ids=[thread.pk])  # bulk_create bypasses the counting
    page = parse_html(anna_client.get(thread.get_absolute_url()))
    texts = [t["text"] for t in page.by_class["message__text"]]
    assert texts == [f"#{i}" for i in range(30, 130)]
    newest = Message.objects.filter(thread=thread).latest("id")
    assert page.by_id["chat"]["attrs"]["data-last-id"] == str(newest.pk)
    # The counters cover the whole thread, not the page.
    assert page.by_id["count-total"]["text"] == "130"
    assert page.by_id["count-total-word"]["text"] == "сообщений"
    sent_by_anna = Message.objects.filter(thread=thread, sender=anna).count()
    assert page.by_id["count-sent"]["text"] == str(sent_by_anna)
    assert page.by_id["count-received"]["text"] == str(130 - sent_by_anna)


def test_empty_thread(anna_client, thread, parse_html):
    page = parse_html(anna_client.get(thread.get_absolute_url()))
    assert page.by_id["chat"]["attrs"]["data-last-id"] == "0"
    assert page.by_class["counters"][0]["text"] == "0 сообщений (0 получено, 0 отправлено)"


def test_text_and_names_are_escaped(make_user, make_client, anna, parse_html):
    from privatemessages.services import thread_get_or_create_for_pair

    evil = make_user('<img src=x onerror="alert(1)">')
    thread = thread_get_or_create_for_pair(user=anna, other=evil)
    message_create(sender=evil, thread=thread, text="<script>alert('x')</script>\nвторая строка")
    content = make_client(anna).get(thread.get_absolute_url()).content.decode()
    assert "<script>alert" not in content
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;\nвторая строка" in content
    assert '<img src=x onerror="alert(1)">' not in content


def queries_for_chat(client, thread) -> int:
    client.get(thread.get_absolute_url())  # warm up: the same session state for every run
    with CaptureQueriesContext(connection) as queries:
        assert client.get(thread.get_absolute_url()).status_code == 200
    return len(queries)


def test_chat_queries_do_not_depend_on_message_count(
    anna, boris, make_user, make_client, thread, send
):
    send(anna, thread, "one")
    small = queries_for_chat(make_client(anna), thread)

    carol, dave = make_user(), make_user()
    from privatemessages.services import thread_get_or_create_for_pair

    big_thread = thread_get_or_create_for_pair(user=carol, other=dave)
    Message.objects.bulk_create(
        Message(thread=big_thread, sender=carol if i % 2 else dave, text=str(i))
        for i in range(150)
    )
    send(carol, big_thread, "last")
    big = queries_for_chat(make_client(carol), big_thread)
    assert small == big
    # Session, user, the header's unread total, thread, partner, messages,
    # memberships (counts and read positions): nothing read, nothing written.
    assert big <= 7


def test_post_is_not_allowed(anna_client, thread):
    assert anna_client.post(thread.get_absolute_url()).status_code == 405
