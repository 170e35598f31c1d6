"""
The pages and JSON endpoints of the direct-message features: reading on
opening, older history by keyset, the thread list's pages, username
suggestions, settings and the header's unread total.
"""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from privatemessages.models import ChatProfile, Membership, Message
from privatemessages.selectors import CHAT_HISTORY_LENGTH, THREAD_LIST_PAGE
from privatemessages.services import thread_get_or_create_for_pair

pytestmark = pytest.mark.django_db


def test_opening_a_thread_reads_it_and_marks_the_first_unread(
    anna, boris, boris_client, thread, send
):
    own = send(boris, thread, "моё")
    first_unread = send(anna, thread, "раз")
    send(anna, thread, "два")
    response = boris_client.get(thread.get_absolute_url())
    chat = response.context["chat"]
    assert (chat.last_read_id, chat.first_unread_id) == (own.pk, first_unread.pk)
    member = Membership.objects.get(thread=thread, user=boris)
    assert (member.last_read_id, member.unread_count) == (chat.last_id, 0)
    assert ChatProfile.objects.get(user=boris).unread_total == 0
    # Opened again: nothing new, no divider.
    again = boris_client.get(thread.get_absolute_url()).context["chat"]
    assert again.first_unread_id is None


def test_the_header_shows_the_unread_total_on_every_page(anna, boris_client, thread, send):
    send(anna, thread)
    send(anna, thread)
    response = boris_client.get(reverse("privatemessages:thread_list"))
    assert response.context["pm_unread_total"] == 2
    assert response.context["pm_notifications"] is False


def test_older_history_pages_by_id(anna, anna_client, thread):
    Message.objects.bulk_create(
        Message(thread=thread, sender=anna, text=str(n)) for n in range(CHAT_HISTORY_LENGTH + 30)
    )
    newest = anna_client.get(thread.get_absolute_url()).context["chat"]
    assert len(newest.messages) == CHAT_HISTORY_LENGTH
    assert newest.older_url.endswith(f"?before={newest.messages[0].pk}")
    older = anna_client.get(newest.older_url).context["chat"]
    assert [m.text for m in older.messages] == [str(n) for n in range(30)]
    assert older.older_url is None
    assert not older.is_newest_page

    url = reverse("privatemessages:history", kwargs={"thread_id": thread.pk})
    page = anna_client.get(url, {"before": newest.messages[0].pk}).json()
    assert [m["text"] for m in page["messages"]] == [str(n) for n in range(30)]
    assert page["more"] is False
    assert anna_client.get(url, {"before": "x"}).status_code == 400


def test_history_is_for_participants_only(carol_client, thread):
    url = reverse("privatemessages:history", kwargs={"thread_id": thread.pk})
    assert carol_client.get(url).status_code == 404


@pytest.mark.parametrize("before", ["-1", "0", "1e3", "١٢", "99999999999999999999", ""])
def test_a_bad_before_shows_the_newest_page(anna_client, thread, before):
    response = anna_client.get(thread.get_absolute_url(), {"before": before})
    assert response.status_code == 200
    assert response.context["chat"].is_newest_page


def test_a_huge_thread_opens_with_the_same_queries(anna, boris, anna_client, thread, send):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Each time with one unread message, so that each opening also reads.
    send(boris, thread)
    with CaptureQueriesContext(connection) as small:
        anna_client.get(thread.get_absolute_url())
    Message.objects.bulk_create(
        Message(thread=thread, sender=boris, text=str(n)) for n in range(3000)
    )
    send(anna, thread)
    send(boris, thread)
    with CaptureQueriesContext(connection) as big:
        anna_client.get(thread.get_absolute_url())
    assert len(big) == len(small)


def test_the_thread_list_pages_by_activity(make_user, make_client, send):
    me = make_user()
    for _ in range(THREAD_LIST_PAGE + 3):
        partner = make_user()
        send(partner, thread_get_or_create_for_pair(user=me, other=partner))
    client = make_client(me)
    first = client.get(reverse("privatemessages:thread_list"))
    assert len(first.context["threads"]) == THREAD_LIST_PAGE
    second = client.get(first.context["next_page_url"])
    rest = second.context["threads"]
    assert second.context["next_page_url"] is None
    shown = [t.pk for t in first.context["threads"]] + [t.pk for t in rest]
    assert len(shown) == len(set(shown)) == THREAD_LIST_PAGE + 3


def test_threads_without_a_time_come_last_and_page_too(make_user, make_client, send):
    """Threads whose messages were made without the service (no last_message) still list."""
    me = make_user()
    for _ in range(THREAD_LIST_PAGE + 2):
        thread = thread_get_or_create_for_pair(user=me, other=make_user())
        Message.objects.create(thread=thread, sender=me, text="by hand")
    partner = make_user()
    send(partner, thread_get_or_create_for_pair(user=me, other=partner))
    client = make_client(me)
    first = client.get(reverse("privatemessages:thread_list"))
    assert first.context["threads"][0].partner == partner.username  # the timed one first
    rest = client.get(first.context["next_page_url"]).context["threads"]
    shown = [t.pk for t in first.context["threads"]] + [t.pk for t in rest]
    assert len(shown) == len(set(shown)) == THREAD_LIST_PAGE + 3


@pytest.mark.parametrize("cursor", ["x", "1-", "-1", "n-0", "9" * 41, "１-1"])
def test_a_bad_cursor_shows_the_first_page(anna_client, cursor):
    response = anna_client.get(reverse("privatemessages:thread_list"), {"after": cursor})
    assert response.status_code == 200


def test_username_suggestions(anna, anna_client, make_user):
    User = get_user_model()
    make_user(username="annabel")
    make_user(username="Anton")
    User.objects.create_user(username="anka", password="x", is_active=False)
    url = reverse("privatemessages:user_search")
    assert anna_client.get(url, {"q": "an"}).json() == {"users": ["Anton", "annabel"]}
    assert anna_client.get(url, {"q": ""}).json() == {"users": []}
    assert anna_client.get(url, {"q": "a\x00"}).json() == {"users": []}
    assert anna_client.get(url, {"q": "x" * 151}).json() == {"users": []}


def test_username_suggestions_need_a_session_and_are_rate_limited(anna_client, client, settings):
    url = reverse("privatemessages:user_search")
    assert client.get(url, {"q": "a"}).status_code == 401
    settings.PRIVATEMESSAGES_USER_SEARCH_RATE = 0.001
    settings.PRIVATEMESSAGES_USER_SEARCH_BURST = 3
    codes = [anna_client.get(url, {"q": "a"}).status_code for _ in range(5)]
    assert codes[:3] == [200] * 3
    assert codes[3] == 429
    assert anna_client.get(url, {"q": "a"}).json()["retry_after"] > 0


def test_settings_are_saved(anna, anna_client):
    url = reverse("privatemessages:settings")
    assert anna_client.get(url).status_code == 200
    response = anna_client.post(url, {"send_receipts": "on"})
    assert response.status_code == 302
    profile = ChatProfile.objects.get(user=anna)
    assert (profile.send_receipts, profile.show_presence, profile.notifications) == (
        True,
        False,
        False,
    )


def test_the_notifications_switch(anna, anna_client):
    url = reverse("privatemessages:notifications")
    assert anna_client.post(url, {"enabled": "1"}).json() == {"notifications": True}
    assert ChatProfile.objects.get(user=anna).notifications is True
    assert anna_client.post(url, {"enabled": "yes"}).status_code == 400
    assert anna_client.get(url).status_code == 405
