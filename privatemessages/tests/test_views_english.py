"""
Every page of the chat, the accounts and the zone picker in English holds no Russian but
what people wrote and the switcher's "Русский": each of its strings is translated.
"""

import re

import pytest
from django.test import Client

CYRILLIC = re.compile(r"[\u0400-\u04ff][\u0400-\u04ff\s.,:;!?«»()—–-]*")


def russian_left(html: str, *allowed: str) -> list[str]:
    found = [match.strip() for match in CYRILLIC.findall(html)]
    return [text for text in found if text not in {"Русский", *allowed}]


@pytest.mark.parametrize(
    "path", ["/messages/", "CHAT", "/messages/settings/", "/timezone/?next=/messages/"]
)
def test_a_signed_in_users_pages_are_all_english(anna, boris, anna_client, thread, send, path):
    send(boris, thread, "Hi Anna")
    send(anna, thread, "Hi Boris")
    url = thread.get_absolute_url() if path == "CHAT" else path
    response = anna_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en"' in html
    assert russian_left(html) == []
    # The same page without Accept-Language: Russian (the check above can see it).
    assert russian_left(anna_client.get(url).content.decode())


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/"])
def test_the_account_pages_are_all_english(db, path):
    html = Client().get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert russian_left(html) == []


def test_a_refused_form_explains_itself_in_english(anna_client):
    response = anna_client.post(
        "/messages/send_message/",
        {"recipient": "nobody-at-all", "text": "   "},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert "There is no such user." in html
    assert russian_left(html) == []
