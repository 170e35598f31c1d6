import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from privatemessages.models import Message, Thread
from privatemessages.services import (
    message_create,
    thread_counts_rebuild,
    thread_get_or_create_for_pair,
)

URL = "/messages/"


def test_anonymous_user_is_sent_to_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/messages/"


def test_empty_list_says_so_and_offers_the_form(anna_client, parse_html):
    response = anna_client.get(URL)
    page = parse_html(response)
    assert response.status_code == 200
    assert "hidden" not in page.by_id["threads-empty"]["attrs"]
    assert page.by_id["threads-empty"]["text"] == "Пока что собеседников нет."
    assert page.by_id["thread-list"]["text"].strip() == ""
    form = page.by_id["new-message-form"]["attrs"]
    assert form["action"] == "/messages/send_message/"
    assert form["method"] == "post"
    assert page.by_id["new-message-recipient"]["attrs"]["name"] == "recipient"
    assert page.by_id["new-message-text"]["attrs"]["name"] == "text"


def test_threads_newest_activity_first_with_partner_count_and_preview(
    anna, boris, carol, anna_client, send, parse_html
):
    with_boris = thread_get_or_create_for_pair(user=anna, other=boris)
    with_carol = thread_get_or_create_for_pair(user=carol, other=anna)
    send(boris, with_boris, "Привет, Анна")
    send(anna, with_carol, "Как дела?")
    send(carol, with_carol, "Отлично")
    send(anna, with_boris, "Новое сообщение Борису")  # boris's thread is now the newest

    response = anna_client.get(URL)
    page = parse_html(response)
    threads = page.by_class["thread"]
    assert [t["attrs"]["data-thread-id"] for t in threads] == [
        str(with_boris.pk),
        str(with_carol.pk),
    ]
    assert "hidden" in page.by_id["threads-empty"]["attrs"]
    assert [p["text"] for p in page.by_class["thread__partner"]] == ["boris", "carol"]
    assert [c["text"] for c in page.by_class["thread__count"]] == ["2 сообщения", "2 сообщения"]
    assert [c["attrs"]["data-count"] for c in page.by_class["thread__count"]] == ["2", "2"]
    assert [p["text"] for p in page.by_class["thread__preview"]] == [
        "Новое сообщение Борису",
        "Отлично",
    ]
    assert [a["attrs"]["href"] for a in page.by_class["thread__link"]] == [
        with_boris.get_absolute_url(),
        with_carol.get_absolute_url(),
    ]
    section = page.by_id["threads"]["attrs"]
    assert section["data-user-id"] == str(anna.pk)
    assert section["data-ws-path"] == "/ws/messages/"


@pytest.mark.parametrize(
    ("count", "text"),
    [(1, "1 сообщение"), (3, "3 сообщения"), (5, "5 сообщений"), (11, "11 сообщений")],
)
def test_count_uses_the_russian_plural(anna, boris, anna_client, thread, parse_html, count, text):
    for i in range(count):
        message_create(sender=anna if i % 2 else boris, thread=thread, text=f"#{i}")
    page = parse_html(anna_client.get(URL))
    assert page.by_class["thread__count"][0]["text"] == text


def test_count_21_messages(anna, boris, anna_client, thread, parse_html):
    Message.objects.bulk_create(
        Message(thread=thread, sender=boris, text=f"#{i}") for i in range(21)
    )
    thread_counts_rebuild(thread_ids=[thread.pk])  # bulk_create bypasses the counting
    page = parse_html(anna_client.get(URL))
    assert page.by_class["thread__count"][0]["text"] == "21 сообщение"


def test_preview_is_truncated_and_escaped(anna, anna_client, thread, parse_html):
    message_create(sender=anna, thread=thread, text="<b>жирный</b> " + "я" * 200)
    response = anna_client.get(URL)
    preview = parse_html(response).by_class["thread__preview"][0]["text"]
    assert len(preview) == 80
    assert preview.endswith("…")
    assert preview.startswith("<b>жирный</b> ")
    assert "&lt;b&gt;жирный&lt;/b&gt;" in response.content.decode()


def test_time_of_last_message_is_in_the_user_zone(anna, anna_client, thread, parse_html):
    Message.objects.create(
        thread=thread,
        sender=anna,
        text="hi",
        created=dt.datetime(2024, 3, 1, 23, 30, tzinfo=dt.UTC),
    )
    anna_client.cookies["timezone"] = "Asia/Tokyo"
    time = parse_html(anna_client.get(URL)).by_class["thread__time"][0]
    assert time["attrs"]["datetime"] == "2024-03-01T23:30:00Z"
    assert time["text"] == "02.03.2024 08:30"


def test_other_peoples_threads_are_not_listed(boris, carol, anna_client, send, parse_html):
    send(boris, thread_get_or_create_for_pair(user=boris, other=carol), "не для Анны")
    page = parse_html(anna_client.get(URL))
    assert page.by_class.get("thread", []) == []
    assert "не для Анны" not in page.by_id["thread-list"]["text"]


def test_a_thread_with_a_deleted_partner_still_renders(anna, boris, anna_client, send):
    thread = thread_get_or_create_for_pair(user=anna, other=boris)
    send(anna, thread, "hi")
    boris.delete()
    response = anna_client.get(URL)
    assert response.status_code == 200
    assert "пользователь удалён" in response.content.decode()


def test_post_is_not_allowed(anna_client):
    assert anna_client.post(URL).status_code == 405


def queries_for_thread_list(client) -> list[str]:
    client.get(URL)  # warm up: the same session state for every run
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def user_with_threads(make_user, send, thread_count: int):
    user = make_user()
    for i in range(thread_count):
        other = make_user()
        send(other if i % 2 else user, thread_get_or_create_for_pair(user=user, other=other))
    return user


@pytest.mark.parametrize("thread_count", [1, 50])
def test_thread_list_runs_a_handful_of_queries(make_user, make_client, send, thread_count):
    """Session, user, the header's unread total, threads (with newest message, partner, counts)."""
    client = make_client(user_with_threads(make_user, send, thread_count))
    queries = queries_for_thread_list(client)
    assert len(queries) <= 4, queries
    assert len(client.get(URL).context["threads"]) == thread_count


def test_one_thread_and_fifty_threads_cost_the_same_queries(make_user, make_client, send):
    one = queries_for_thread_list(make_client(user_with_threads(make_user, send, 1)))
    fifty = queries_for_thread_list(make_client(user_with_threads(make_user, send, 50)))
    assert len(one) == len(fifty)
    assert Thread.objects.count() == 51
