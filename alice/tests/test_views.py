"""The Django webhook: methods, sizes, errors, content type, CSRF, WSGI and ASGI."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client
from django.test.utils import override_settings
from django.utils.module_loading import import_string

from alice.apps import store_from_settings
from alice.db_store import DatabaseSessionStore
from alice.engine import MemorySessionStore, Skill
from alice.engine.redis_store import RedisSessionStore
from alice.engine.storage import set_default_store

from .conftest import REPO_ROOT

pytestmark = pytest.mark.urls("alice.tests.urls")


def body(session_id: str, message_id: int, command: str = "", *, new: bool = False, **extra):
    return json.dumps(
        {
            "request": {"command": command, "original_utterance": command},
            "session": {"session_id": session_id, "message_id": message_id, "new": new},
            "version": "1.0",
            **extra,
        }
    ).encode()


def post(client, url: str, data: bytes):
    return client.post(url, data, content_type="application/json")


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_only_post_is_allowed(client, method):
    """Any method but POST is a 405 naming POST."""
    response = getattr(client, method)("/alice/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_csrf_is_not_required():
    """Alice sends no CSRF token: the webhook is exempt."""
    client = Client(enforce_csrf_checks=True)
    assert post(client, "/alice/", body("s", 0, new=True)).status_code == 200


def test_answer_is_json_in_utf8():
    """The answer is application/json in UTF-8, Cyrillic unescaped."""
    response = post(Client(), "/alice/", body("s", 0, new=True))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert "Добрый день".encode() in response.content


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "the body is not JSON in UTF-8"),
        (b"{not json", "the body is not JSON in UTF-8"),
        ("{}".encode("utf-16"), "the body is not JSON in UTF-8"),
        (b'"\xff"', "the body is not JSON in UTF-8"),
        (b"[" * 60_000, "the body is not JSON in UTF-8"),
        (b"[]", "the body is not an Alice protocol request"),
        (b"null", "the body is not an Alice protocol request"),
        (b'{"version": "1.0"}', "the body is not an Alice protocol request"),
        (
            b'{"version": "1.0", "request": {}, "session": {"session_id": 5}}',
            "the body is not an Alice protocol request",
        ),
    ],
)
def test_bad_bodies_are_400_with_a_json_error(client, data, error):
    """Invalid JSON and bodies that are not protocol requests are 400 with a JSON error."""
    response = post(client, "/alice/", data)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == error


def test_oversized_body_is_413(client):
    """A body over the cap is refused with 413 before it is parsed."""
    padding = "x" * 70_000
    response = post(client, "/alice/", body("s", 0, new=True, padding=padding))
    assert response.status_code == 413
    assert "error" in response.json()


@override_settings(ALICE_MAX_BODY_SIZE=300)
def test_body_cap_is_a_setting(client):
    """ALICE_MAX_BODY_SIZE sets the cap."""
    assert post(client, "/alice/", body("s", 0, new=True)).status_code == 200
    assert post(client, "/alice/", body("s", 0, new=True, pad="x" * 300)).status_code == 413


def test_failing_script_is_a_json_apology_not_an_html_500(client):
    """An exception in a script is answered 200 with a protocol apology."""
    post(client, "/test/failing/", body("s", 0, new=True))
    response = post(client, "/test/failing/", body("s", 1, "0"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["response"]["end_session"] is True


def test_unfinished_script_is_closed_properly(client):
    """A script that returns gets a closing answer, not a 500."""
    for message_id in range(2):
        post(client, "/test/unfinished/", body("s", message_id, new=message_id == 0))
    response = post(client, "/test/unfinished/", body("s", 2, "a"))
    assert response.status_code == 200
    assert response.json()["response"]["end_session"] is True


def test_access_token_is_not_echoed(client):
    """The response never contains the session, hence no access_token."""
    data = json.loads(body("s", 0, new=True))
    data["session"]["user"] = {"user_id": "u", "access_token": "secret-token-xyz"}
    response = post(client, "/alice/", json.dumps(data).encode())
    assert b"secret-token-xyz" not in response.content
    assert "session" not in response.json()


def test_two_threads_on_one_session_through_the_webhook():
    """Two WSGI threads posting to one session at once are served one after the other."""
    session_id = str(uuid.uuid4())
    assert post(Client(), "/test/slow/", body(session_id, 0, new=True)).json()
    barrier = threading.Barrier(2)
    results = {}

    def send(message_id):
        barrier.wait()
        results[message_id] = post(Client(), "/test/slow/", body(session_id, message_id, "x"))

    threads = [threading.Thread(target=send, args=(i,)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [results[i].status_code for i in (1, 2)] == [200, 200]
    assert sorted(results[i].json()["response"]["text"] for i in (1, 2)) == ["2", "3"]


async def test_asgi_requests_of_one_session_are_serialised():
    """Under ASGI, concurrent requests of one session are also served in turn."""
    client = AsyncClient()
    session_id = str(uuid.uuid4())
    first = await client.post("/test/slow/", body(session_id, 0, new=True), "application/json")
    assert first.json()["response"]["text"] == "1"
    responses = await asyncio.gather(
        *(
            client.post("/test/slow/", body(session_id, i, "x"), "application/json")
            for i in (1, 2, 3)
        )
    )
    assert sorted(r.json()["response"]["text"] for r in responses) == ["2", "3", "4"]


async def test_asgi_retry_gets_the_same_answer():
    """Under ASGI too, a retried request gets the same answer."""
    client = AsyncClient()
    session_id = str(uuid.uuid4())
    await client.post("/test/counter/", body(session_id, 0, new=True), "application/json")
    once = await client.post("/test/counter/", body(session_id, 1, "a"), "application/json")
    again = await client.post("/test/counter/", body(session_id, 1, "a"), "application/json")
    assert once.content == again.content


@override_settings(
    ALICE_SESSION_STORE="alice.engine.storage.MemorySessionStore",
    ALICE_SESSION_IDLE_TIMEOUT=5,
    ALICE_MAX_SESSIONS=7,
    ALICE_MAX_TURNS=9,
)
def test_session_store_comes_from_settings():
    """New skills get their store from the settings, built when first used."""
    set_default_store(store_from_settings)  # as AliceConfig.ready() does
    skill = Skill("alice.tests.from_settings")
    store = skill.store
    assert isinstance(store, MemorySessionStore)
    assert (store.idle_timeout, store.max_sessions, store.max_turns, store.namespace) == (
        5,
        7,
        9,
        "alice.tests.from_settings",
    )
    assert isinstance(store_from_settings(namespace="x"), MemorySessionStore)


def settings_default_store(redis_url: str) -> str:
    """Return the ALICE_SESSION_STORE that myproject/settings.py gives, unset, with *redis_url*."""
    env = {key: value for key, value in os.environ.items() if key != "ALICE_SESSION_STORE"}
    result = subprocess.run(
        [sys.executable, "-c", "import myproject.settings as s; print(s.ALICE_SESSION_STORE)"],
        cwd=REPO_ROOT,
        env={**env, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_default_store_is_redis_with_redis_url_else_the_database():
    """Without ALICE_SESSION_STORE, dialogs go to Redis when REDIS_URL is set, else to the DB."""
    default = settings_default_store("")
    with override_settings(ALICE_SESSION_STORE=default, REDIS_URL=""):
        store = store_from_settings(namespace="alice.tests.default")
        assert isinstance(store, DatabaseSessionStore)
        assert (store.namespace, store.max_turns) == ("alice.tests.default", 200)
    url = "redis://127.0.0.1:1/0"
    with override_settings(ALICE_SESSION_STORE=settings_default_store(url), REDIS_URL=url):
        store = store_from_settings(namespace="alice.tests.default")
        assert isinstance(store, RedisSessionStore)
        assert (
            store.keys("s")[1]
            == f"{settings.REDIS_KEY_PREFIX}alice:alice.tests.default:{{s}}:meta"
        )


def test_the_redis_store_without_redis_url_is_a_configuration_error():
    """ALICE_SESSION_STORE naming the Redis store with no REDIS_URL fails when it is built."""
    with (
        override_settings(
            ALICE_SESSION_STORE="alice.engine.redis_store.RedisSessionStore", REDIS_URL=""
        ),
        pytest.raises(ImproperlyConfigured, match="REDIS_URL"),
    ):
        store_from_settings(namespace="x")


@pytest.mark.parametrize(
    "path",
    [
        "alice.engine.storage.MemorySessionStore",
        "alice.engine.redis_store.RedisSessionStore",
        "alice.db_store.DatabaseSessionStore",
        "alice.testing.RecordingMemoryStore",
    ],
)
@override_settings(
    REDIS_URL="redis://127.0.0.1:1/0",
    ALICE_SESSION_IDLE_TIMEOUT=5,
    ALICE_MAX_SESSIONS=7,
    ALICE_MAX_TURNS=9,
)
def test_every_store_builds_itself_from_the_settings(path):
    """Each store's from_settings() reads the common ALICE_* options; keyword options win."""
    backend = import_string(path)
    store = backend.from_settings(settings, namespace="n")
    assert (store.namespace, store.idle_timeout, store.max_sessions, store.max_turns) == (
        "n",
        5,
        7,
        9,
    )
    assert backend.from_settings(settings, namespace="n", max_turns=3).max_turns == 3
