"""
Which language a page, a script catalog and an API answer speak: Django's
language cookie (set by the header's switcher through set_language), else
the browser's Accept-Language, else Russian.
"""

import json
import re

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.utils import translation

from alice.testing.requests import build_request, utterance
from myproject.overload import overloaded_response
from privatemessages.forms import NewMessageForm
from privatemessages.services import MessageError, check_message

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def page_language(response) -> str:
    return re.search(r'<html lang="([\w-]+)"', response.content.decode())[1]


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)[1].strip()


def test_russian_by_default():
    response = Client().get(LOGIN)
    assert page_language(response) == "ru"
    assert title(response) == "Вход"


def test_the_browsers_accept_language_picks_english():
    response = Client().get(LOGIN, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert page_language(response) == "en"
    assert title(response) == "Sign in"
    assert "Already have an account?" not in response.content.decode()
    assert "No account?" in response.content.decode()


def test_a_language_not_offered_gets_russian():
    response = Client().get(LOGIN, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert page_language(response) == "ru"


def test_the_language_cookie_wins_over_accept_language():
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    assert page_language(client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="en")) == "ru"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert page_language(client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="ru")) == "en"


def test_the_header_switcher_changes_the_language_and_it_is_remembered():
    client = Client()
    page = client.get(LOGIN).content.decode()
    # On a Russian page: one button, for English, labelled in English.
    switcher = re.search(r'<form class="site-header__language".*?</form>', page, re.S)[0]
    assert 'action="/i18n/setlang/"' in switcher
    buttons = re.findall(r"<button[^>]*>.*?</button>", switcher)
    assert buttons == [
        '<button type="submit" class="button button--quiet" name="language" value="en"'
        ' lang="en">English</button>'
    ]
    assert f'name="next" value="{LOGIN}"' in switcher

    response = client.post("/i18n/setlang/", {"language": "en", "next": LOGIN})
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en"
    assert cookie["max-age"] == settings.LANGUAGE_COOKIE_AGE
    # Remembered: the next pages are English whatever the browser asks for.
    again = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="ru")
    assert page_language(again) == "en"
    assert 'value="ru" lang="ru">Русский</button>' in again.content.decode()


def test_the_scripts_catalog_comes_first_and_in_the_pages_language():
    client = Client()
    page = client.get(LOGIN).content.decode()
    assert page.index('src="/jsi18n/"') < page.index("<script", page.index('src="/jsi18n/"') + 1)

    english = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="en")
    russian = client.get("/jsi18n/")
    assert "is typing" in english.content.decode()
    assert "is typing" not in russian.content.decode()
    # Russian needs its own plural rule: three forms (and Django's fourth, for fractions).
    assert "n%10==1 && n%100!=11 ? 0" in russian.content.decode()
    # Not the admin's strings: only the site's catalogs.
    assert "Show all" not in english.content.decode()


def test_the_scripts_catalog_is_revalidated_per_language():
    client = Client()
    english = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="en")
    russian = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="ru")
    assert english["ETag"] != russian["ETag"]
    assert "no-cache" in english["Cache-Control"]
    unchanged = client.get(
        "/jsi18n/", HTTP_ACCEPT_LANGUAGE="en", HTTP_IF_NONE_MATCH=english["ETag"]
    )
    assert unchanged.status_code == 304
    # After a switch to Russian the English copy is not reused.
    switched = client.get(
        "/jsi18n/", HTTP_ACCEPT_LANGUAGE="ru", HTTP_IF_NONE_MATCH=english["ETag"]
    )
    assert switched.status_code == 200


def test_api_errors_speak_the_requests_language():
    url = "/messages/send_message_api/1/"
    russian = Client().post(url, "{}", content_type="application/json")
    english = Client().post(url, "{}", content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert russian.status_code == english.status_code == 401
    assert russian.json()["error"] == {
        "code": "unauthorized",
        "detail": "Заголовок X-Api-Key не указан или неверен.",
    }
    assert english.json()["error"] == {
        "code": "unauthorized",
        "detail": "Missing or wrong X-Api-Key header.",
    }


def test_a_services_refusal_takes_the_language_of_whoever_shows_it():
    """Raised in one language (a socket's database thread), shown in another."""
    with translation.override("ru"), pytest.raises(MessageError) as refused:
        check_message("x" * 10_001)
    assert refused.value.code == "too_long"
    with translation.override("en"):
        assert str(refused.value.message) == "The message is longer than 10000 characters (10001)."
    with translation.override("ru"):
        assert str(refused.value.message) == "Сообщение длиннее 10000 символов (10001)."


def test_form_errors_are_translated(django_user_model):
    with translation.override("en"):
        form = NewMessageForm(data={"recipient": "nobody-here", "text": "hi"})
        assert form.errors["recipient"] == ["There is no such user."]
        assert str(form.fields["recipient"].label) == "To"


def test_pages_say_their_language_and_the_alice_webhook_skips_the_negotiation():
    """The webhook speaks Russian whatever the request asks: no locale middleware's work."""
    page = Client().get(LOGIN, HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "en"
    assert "Accept-Language" in page["Vary"]
    body = build_request(utterance("привет"), session_id="languages", message_id=0, new=True)
    webhook = Client().post(
        "/alice/", json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert webhook.status_code == 200
    assert webhook.json()["response"]["text"] == "Добрый день! Как вас зовут?"
    assert "Content-Language" not in webhook
    assert "Accept-Language" not in webhook.get("Vary", "")


def test_the_overload_page_speaks_the_requests_language():
    request = RequestFactory().get(LOGIN, HTTP_ACCEPT="text/html")
    with translation.override("en"):
        page = overloaded_response(request).content.decode()
    assert '<html lang="en">' in page
    assert "<h1>The server is overloaded</h1>" in page
    with translation.override("ru"):
        answer = overloaded_response(RequestFactory().get(LOGIN, HTTP_ACCEPT="application/json"))
    assert json.loads(answer.content) == {
        "error": "overloaded",
        "message": "Сервер перегружен. Повторите попытку через несколько секунд.",
    }
