"""
The JSON API takes UTF-8 only: a body in another encoding, or a Content-Type
that declares another charset, is refused with 400 and the API's JSON error.
"""

import codecs
import json

import pytest
from django.test import Client

from privatemessages.models import Message

KEY = "k3y-for-encoding-tests-0123"


@pytest.fixture(autouse=True)
def api_key(settings):
    settings.PRIVATEMESSAGES_API_KEY = KEY


@pytest.fixture
def post_bytes(thread):
    """Return ``post(body, content_type)``: POST *body* as it is, byte for byte."""
    client = Client()

    def post(body: bytes, content_type: str = "application/json"):
        return client.generic(
            "POST",
            f"/messages/send_message_api/{thread.pk}/",
            data=body,
            content_type=content_type,
            HTTP_X_API_KEY=KEY,
            # The details below are read in English (Russian without the header).
            HTTP_ACCEPT_LANGUAGE="en",
        )

    return post


def document(anna) -> str:
    return json.dumps({"sender_id": anna.pk, "text": "Привет, café"}, ensure_ascii=False)


def assert_refused(response, mentions: str) -> None:
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert mentions in error["detail"]
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "latin-1", "cp1251"]
)
def test_a_body_in_another_encoding_is_refused(anna, post_bytes, encoding):
    body = document(anna).encode(encoding, errors="replace")
    assert_refused(post_bytes(body), "not UTF-8")


def test_an_ascii_only_body_in_utf16_without_a_byte_order_mark_is_refused(anna, post_bytes):
    body = json.dumps({"sender_id": anna.pk, "text": "hi"}).encode("utf-16-le")
    assert_refused(post_bytes(body), "not UTF-8")


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "iso-8859-1", "cp1251", "no-such"])
def test_a_declared_charset_other_than_utf8_is_refused(anna, post_bytes, charset):
    body = document(anna).encode()
    response = post_bytes(body, f"application/json; charset={charset}")
    assert_refused(response, f"charset='{charset}'")


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"utf-8"'])
def test_utf8_under_any_of_its_names_is_accepted(anna, post_bytes, charset):
    response = post_bytes(document(anna).encode(), f"application/json; charset={charset}")
    assert response.status_code == 201
    assert Message.objects.get().text == "Привет, café"


def test_utf8_with_a_byte_order_mark_is_accepted(anna, post_bytes):
    response = post_bytes(codecs.BOM_UTF8 + document(anna).encode())
    assert response.status_code == 201
    assert Message.objects.get().text == "Привет, café"
