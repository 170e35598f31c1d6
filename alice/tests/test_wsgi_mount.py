"""The webhooks answered in front of Django (alice.wsgi_mount): same answers, Django kept."""

import json
import logging
import threading
import uuid

import pytest
from django.core import signals
from django.core.cache.backends.locmem import LocMemCache
from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created
from django.test import Client
from django.test.utils import override_settings
from django.urls import path

from alice.engine import MemorySessionStore, Skill
from alice.engine.router import WebhookRouter
from alice.scripts import acquaintance
from alice.tests.skills import counter
from alice.tests.webhooks import call, connections_kept
from alice.views import webhook_view
from alice.wsgi_mount import webhook_routes, with_alice_webhooks

pytestmark = pytest.mark.urls("alice.tests.urls")


def body(session_id: str, message_id: int, command: str = "", *, new: bool = False) -> bytes:
    return json.dumps(
        {
            "request": {"command": command, "original_utterance": command},
            "session": {"session_id": session_id, "message_id": message_id, "new": new},
            "version": "1.0",
        }
    ).encode()


@pytest.fixture(autouse=True)
def keep_test_connections():
    """The request signals must not close the test's database connection
    (test_request_signals_are_sent checks that they are sent)."""
    with connections_kept():
        yield


@pytest.fixture
def app():
    return with_alice_webhooks(get_wsgi_application())


def test_routes_are_the_webhooks_of_the_urlconf(app):
    """Every webhook_view of the URLconf is routed at its full path, nothing else."""
    assert app.routes["/alice/"] is acquaintance.skill
    assert app.routes["/test/counter/"] is counter
    assert all(url.startswith(("/alice/", "/test/")) for url in app.routes)


def test_routes_leave_converters_to_django():
    """A webhook behind a path converter needs Django's resolver: it is not routed."""
    skill = Skill("alice.tests.converter")
    patterns = [
        path("<slug:name>/hook/", webhook_view(skill)),
        path("fixed/", webhook_view(skill)),
    ]
    assert webhook_routes(patterns) == {"/fixed/": skill}


@pytest.mark.parametrize(
    ("method", "data"),
    [
        ("POST", body("same-session", 0, new=True)),
        ("GET", b""),
        ("PUT", body("s", 0, new=True)),
        ("POST", b"{not json"),
        ("POST", b"[" * 60_000),
        ("POST", b'{"version": "1.0"}'),
        ("POST", body("s", 0, new=True) + b" " * 70_000),
    ],
)
def test_answers_are_the_django_views(app, method, data):
    """Status, body, content type and Allow are those of the Django view, case by case."""
    status, headers, content = call(app, method, "/alice/", data)
    acquaintance.skill.store = MemorySessionStore()  # the same dialog once more, from scratch
    django = getattr(Client(), method.lower())("/alice/", data, content_type="application/json")
    assert (status, content) == (django.status_code, django.content)
    assert headers["Content-Type"] == django["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Content-Length"] == str(len(content))
    assert headers.get("Allow") == django.get("Allow")


def test_a_dialog_runs_through_the_router(app):
    """A whole dialog, retry included, through the router."""
    session_id = str(uuid.uuid4())
    texts = []
    for message_id, command in enumerate(["", "a", "b"]):
        status, _, content = call(
            app,
            "POST",
            "/test/counter/",
            body(session_id, message_id, command, new=not message_id),
        )
        assert status == 200
        texts.append(json.loads(content)["response"]["text"])
    assert texts == ["1", "2", "3"]
    assert call(app, "POST", "/test/counter/", body(session_id, 2, "b"))[2] == content


def test_security_headers_are_those_of_the_site(app):
    """The headers SecurityMiddleware and XFrameOptionsMiddleware give the pages."""
    _, headers, _ = call(app, "POST", "/alice/", body("s", 0, new=True))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_other_paths_go_to_the_application_behind():
    """Anything but a webhook path, even the path without its slash, is the fallback's."""
    seen = []

    def fallback(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("204 No Content", [])
        return [b""]

    app = with_alice_webhooks(fallback)
    assert call(app, "GET", "/messages/")[0] == 204
    assert call(app, "POST", "/alice", body("s", 0, new=True))[0] == 204
    assert call(app, "POST", "/alice/guess-number/x/", body("s", 0, new=True))[0] == 204
    assert call(app, "POST", "/alice/", body("s", 0, new=True))[0] == 200
    assert seen == [("GET", "/messages/"), ("POST", "/alice"), ("POST", "/alice/guess-number/x/")]


@override_settings(ALLOWED_HOSTS=["alice.example.com"])
def test_a_host_the_site_does_not_serve_gets_djangos_400(app):
    """A request for a host outside ALLOWED_HOSTS is Django's to refuse, as for any page."""
    status, _, _ = call(app, "POST", "/alice/", body("s", 0, new=True))
    assert status == 400
    status, _, _ = call(
        app, "POST", "/alice/", body("s", 0, new=True), HTTP_HOST="alice.example.com"
    )
    assert status == 200


def test_the_host_check_is_judged_again_when_the_host_or_the_settings_change(app):
    """The router remembers Django's verdict on a host, never past a change of either."""
    new_session = body("s", 0, new=True)
    assert call(app, "POST", "/alice/", new_session)[0] == 200
    with override_settings(ALLOWED_HOSTS=["alice.example.com"]):
        assert call(app, "POST", "/alice/", new_session)[0] == 400
        assert call(app, "POST", "/alice/", new_session, HTTP_HOST="alice.example.com")[0] == 200
        assert call(app, "POST", "/alice/", new_session, HTTP_HOST="evil.example.com")[0] == 400
        forwarded = {"HTTP_HOST": "alice.example.com", "HTTP_X_FORWARDED_HOST": "evil.com"}
        assert call(app, "POST", "/alice/", new_session, **forwarded)[0] == 200
        with override_settings(USE_X_FORWARDED_HOST=True):
            assert call(app, "POST", "/alice/", new_session, **forwarded)[0] == 400
    assert call(app, "POST", "/alice/", new_session)[0] == 200


@override_settings(
    SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
)
def test_plain_http_is_redirected_by_django_when_the_site_requires_https():
    """With SECURE_SSL_REDIRECT, plain HTTP gets Django's redirect; HTTPS is served."""
    # Built here: SecurityMiddleware reads its settings when Django's handler is built.
    app = with_alice_webhooks(get_wsgi_application())
    status, headers, _ = call(app, "POST", "/alice/", body("s", 0, new=True))
    assert status == 301
    assert headers["Location"].startswith("https://")
    status, _, content = call(
        app, "POST", "/alice/", body("s", 0, new=True), HTTP_X_FORWARDED_PROTO="https"
    )
    assert status == 200
    assert json.loads(content)["response"]["text"]


def test_request_signals_are_sent(app):
    """request_started / request_finished fire, so database connections are managed."""
    seen = []

    def started(sender, **kwargs):
        seen.append(("started", sender))

    def finished(sender, **kwargs):
        seen.append(("finished", sender))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        call(app, "POST", "/alice/", body("s", 0, new=True))
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert seen == [("started", WebhookRouter), ("finished", WebhookRouter)]


def _in_a_new_thread(function):
    """Return function() run in a thread of its own (one that never opened a connection)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


@pytest.fixture
def signals_sent(monkeypatch) -> list[str]:
    """Record the request signals sent (their receivers are left as they are)."""
    sent: list[str] = []
    for name in ("request_started", "request_finished"):
        signal = getattr(signals, name)
        monkeypatch.setattr(signal, "send", lambda sender, _name=name, **kw: sent.append(_name))
    return sent


def test_request_signals_that_would_do_nothing_are_not_sent(app, signals_sent):
    """In a thread without a database connection, Django's receivers have nothing to do."""
    status, _, _ = _in_a_new_thread(lambda: call(app, "POST", "/alice/", body("s", 0, new=True)))
    assert status == 200
    assert signals_sent == []


def test_request_signals_are_sent_in_a_thread_that_opened_a_connection(app, signals_sent):
    """A connection opened before the request: both signals, as for any request."""

    def request():
        connection_created.send(sender=None, connection=None)
        return call(app, "POST", "/alice/", body("s", 0, new=True))

    assert _in_a_new_thread(request)[0] == 200
    assert signals_sent == ["request_started", "request_finished"]


class _ConnectingStore(MemorySessionStore):
    """Opens a database connection in the request, as the database store does."""

    def lock(self, session_id, timeout=None, *, new_session=False):
        connection_created.send(sender=None, connection=None)
        return super().lock(session_id, timeout, new_session=new_session)


def test_a_request_that_opens_a_connection_gets_request_finished(app, signals_sent):
    """request_finished closes what the request opened (as CONN_MAX_AGE says)."""
    acquaintance.skill.store = _ConnectingStore()
    status, _, _ = _in_a_new_thread(lambda: call(app, "POST", "/alice/", body("s", 0, new=True)))
    assert status == 200
    assert signals_sent == ["request_finished"]


class _ClosingCache(LocMemCache):
    def close(self, **kwargs):
        pass  # as a cache with connections to close would


@override_settings(CACHES={"default": {"BACKEND": "alice.tests.test_wsgi_mount._ClosingCache"}})
def test_request_signals_are_sent_when_a_cache_has_something_to_close(app, signals_sent):
    status, _, _ = _in_a_new_thread(lambda: call(app, "POST", "/alice/", body("s", 0, new=True)))
    assert status == 200
    assert signals_sent == ["request_started", "request_finished"]


def test_request_signals_with_a_receiver_of_the_sites_own_are_sent(app, signals_sent):
    """Any receiver besides Django's own: the signals are sent, in any thread."""

    def receiver(sender, **kwargs):
        pass

    signals.request_finished.connect(receiver)
    try:
        _in_a_new_thread(lambda: call(app, "POST", "/alice/", body("s", 0, new=True)))
    finally:
        signals.request_finished.disconnect(receiver)
    assert signals_sent == ["request_started", "request_finished"]


class _BrokenStore(MemorySessionStore):
    def lock(self, session_id, timeout=None, *, new_session=False):
        raise RuntimeError("a bug in a store")


def test_an_unexpected_failure_is_a_logged_json_500(app, caplog):
    """A bug below the skill is a JSON 500 and a logged traceback, not a dropped connection."""
    acquaintance.skill.store = _BrokenStore()
    with caplog.at_level(logging.ERROR, logger="alice.webhook"):
        status, headers, content = call(app, "POST", "/alice/", body("s", 0, new=True))
    assert status == 500
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(content) == {"error": "internal server error"}
    assert "a bug in a store" in caplog.text


def test_the_deployed_application_is_the_router():
    """myproject.wsgi, which the WSGI server serves, answers the webhooks in front of Django."""
    from myproject.wsgi import application

    assert isinstance(application, WebhookRouter)
    assert "/alice/" in application.routes
