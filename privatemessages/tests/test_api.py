import json

import pytest
from django.test import Client

from privatemessages.api import API_MAX_BODY_BYTES
from privatemessages.models import Message

KEY = "k3y-for-tests-0123456789"


@pytest.fixture(autouse=True)
def api_key(settings):
    settings.PRIVATEMESSAGES_API_KEY = KEY


@pytest.fixture
def api():
    """Return ``api(thread_id, body, key=KEY, **extra)``: POST *body* (JSON unless bytes)."""
    client = Client()

    def post(thread_id, body, key=KEY, method="post", **extra):
        if key is not None:
            extra["HTTP_X_API_KEY"] = key
        url = f"/messages/send_message_api/{thread_id}/"
        if method == "get":
            return client.get(url, **extra)
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        return getattr(client, method)(
            url,
            data=data,
            content_type="application/json",
            **extra,
        )

    return post


def error_code(response) -> str:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]["code"]


def test_posts_a_message_as_a_participant(
    anna, boris, thread, api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api(thread.pk, {"sender_id": anna.pk, "text": "  Из другого сервиса  "})
    assert response.status_code == 201
    message = Message.objects.get()
    assert (message.thread, message.sender, message.text) == (thread, anna, "Из другого сервиса")
    body = response.json()
    assert body["id"] == message.pk
    assert body["thread"] == thread.pk
    assert body["sender"] == "anna"
    assert body["sender_id"] == anna.pk
    assert body["text"] == "Из другого сервиса"
    assert body["created"].endswith("Z")
    # The fan-out is scheduled through the same service as the form's.
    assert len(callbacks) == 1


def test_sender_may_be_given_by_username(boris, thread, api):
    response = api(thread.pk, {"sender": "boris", "text": "hi"})
    assert response.status_code == 201
    assert Message.objects.get().sender == boris


def test_longest_allowed_text_written_as_escapes_fits(anna, thread, api):
    text = "😀" * 10_000
    body = json.dumps({"sender_id": anna.pk, "text": text}).encode()  # \\ud83d\\ude00 each
    assert len(body) > 100_000
    response = api(thread.pk, body)
    assert response.status_code == 201
    assert Message.objects.get().text == text


@pytest.mark.parametrize("key", [None, "", "wrong", KEY + "x", KEY[:-1], "ключ"])
def test_wrong_or_missing_key_is_401(anna, thread, api, key):
    response = api(thread.pk, {"sender_id": anna.pk, "text": "hi"}, key=key)
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert Message.objects.count() == 0


def test_api_is_off_without_a_configured_key(anna, thread, api, settings):
    settings.PRIVATEMESSAGES_API_KEY = ""
    response = api(thread.pk, {"sender_id": anna.pk, "text": "hi"}, key="")
    assert response.status_code == 401


def test_key_is_compared_in_constant_time(anna, thread, api, monkeypatch):
    from privatemessages import api as api_module

    calls = []
    real = api_module.constant_time_compare
    monkeypatch.setattr(
        api_module, "constant_time_compare", lambda a, b: calls.append((a, b)) or real(a, b)
    )
    api(thread.pk, {"sender_id": anna.pk, "text": "hi"}, key="guess")
    assert calls == [("guess", KEY)]


def test_a_session_is_no_substitute_for_the_key(anna, thread, anna_client):
    response = anna_client.post(
        f"/messages/send_message_api/{thread.pk}/",
        data={"sender_id": anna.pk, "text": "hi"},
        content_type="application/json",
    )
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_are_405(thread, api, method):
    response = api(thread.pk, {}, method=method)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert error_code(response) == "method_not_allowed"


def test_unknown_thread_is_404(anna, api):
    response = api(424242, {"sender_id": anna.pk, "text": "hi"})
    assert response.status_code == 404
    assert error_code(response) == "thread_not_found"


def test_huge_thread_id_is_404(anna, api):
    response = api(2**64, {"sender_id": anna.pk, "text": "hi"})
    assert response.status_code == 404


def test_sender_who_is_not_a_participant_is_403(carol, thread, api):
    """The posted sender is not trusted: it must take part in the thread."""
    response = api(thread.pk, {"sender_id": carol.pk, "text": "hi"})
    assert response.status_code == 403
    assert error_code(response) == "not_participant"
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "invalid_json"),
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b'{"text": "\xff"}', "invalid_json"),
        (b"[" * 50_000 + b"]" * 50_000, "invalid_json"),
        (b'{"sender_id": 1' + b"0" * 5000 + b', "text": "hi"}', "invalid_json"),
        ([1, 2], "invalid_json"),
        ("just a string", "invalid_json"),
        (None, "invalid_json"),
        ({"text": "hi"}, "missing_sender"),
        ({"sender_id": "1", "text": "hi"}, "invalid_sender"),
        ({"sender_id": True, "text": "hi"}, "invalid_sender"),
        ({"sender_id": 1.0, "text": "hi"}, "invalid_sender"),
        ({"sender_id": -1, "text": "hi"}, "invalid_sender"),
        ({"sender_id": 0, "text": "hi"}, "invalid_sender"),
        ({"sender_id": 2**64, "text": "hi"}, "invalid_sender"),
        ({"sender_id": None, "text": "hi"}, "invalid_sender"),
        ({"sender_id": [1], "text": "hi"}, "invalid_sender"),
        ({"sender": 5, "text": "hi"}, "invalid_sender"),
        ({"sender": None, "text": "hi"}, "invalid_sender"),
        ({"sender_id": 987654, "text": "hi"}, "unknown_sender"),
        ({"sender": "nobody", "text": "hi"}, "unknown_sender"),
        ({"sender": "", "text": "hi"}, "unknown_sender"),
        ({"sender": "an\x00na", "text": "hi"}, "unknown_sender"),
        ({"sender": "\ud800", "text": "hi"}, "unknown_sender"),
        ({"sender": "anna"}, "missing_text"),
        ({"sender": "anna", "text": None}, "invalid_text"),
        ({"sender": "anna", "text": 5}, "invalid_text"),
        ({"sender": "anna", "text": ["hi"]}, "invalid_text"),
        ({"sender": "anna", "text": ""}, "empty"),
        ({"sender": "anna", "text": "   \n"}, "empty"),
        ({"sender": "anna", "text": "a\x00b"}, "invalid_text"),
        ({"sender": "anna", "text": "lone \ud800 surrogate"}, "invalid_text"),
    ],
)
def test_bad_input_is_400_never_500(anna, thread, api, body, code):
    if not isinstance(body, bytes):
        body = json.dumps(body)
    response = api(thread.pk, body)
    assert response.status_code == 400, response.content
    assert error_code(response) == code
    assert response.json()["error"]["detail"]
    assert Message.objects.count() == 0


def test_text_over_the_limit_is_413(anna, thread, api):
    response = api(thread.pk, {"sender_id": anna.pk, "text": "я" * 10_001})
    assert response.status_code == 413
    assert error_code(response) == "too_long"


def test_body_over_the_limit_is_413(anna, thread, api):
    body = json.dumps({"sender_id": anna.pk, "text": "x" * API_MAX_BODY_BYTES})
    response = api(thread.pk, body)
    assert response.status_code == 413
    assert error_code(response) == "too_large"


def test_body_larger_than_declared_is_413(anna, thread, api):
    """The size check does not trust Content-Length alone."""
    body = json.dumps({"sender_id": anna.pk, "text": "x" * API_MAX_BODY_BYTES}).encode()
    response = api(thread.pk, body, CONTENT_LENGTH="10")
    assert response.status_code in (400, 413)
    assert Message.objects.count() == 0


def test_declared_huge_body_is_413_without_reading_it(thread, api):
    response = api(thread.pk, b"{}", CONTENT_LENGTH=str(10**12))
    assert response.status_code == 413


def test_checks_run_in_order_key_before_thread(api):
    """An unauthenticated caller cannot tell which threads exist."""
    assert api(424242, {"sender_id": 1, "text": "hi"}, key="bad").status_code == 401
