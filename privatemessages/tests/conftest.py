"""Factories and fixtures for the privatemessages tests."""

import itertools
from html.parser import HTMLParser

import pytest
from django.db import connections
from django.test import Client

from privatemessages.models import Message, Thread
from privatemessages.services import (
    message_create,
    message_send_to_username,
    thread_get_or_create_for_pair,
)
from privatemessages.tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS
from privatemessages.tests.realtime_fixtures import make_rt_user, session_cookie
from privatemessages.tests.servers import ServerProcess, free_port, server_env

PASSWORD = "test-password-123"

_usernames = itertools.count(1)


@pytest.fixture
def fast_password_hashing(settings):
    """
    The production hasher costs most of a second per user; these tests make
    hundreds. Not autouse: a hash made with it is unreadable to a server
    process started with the real settings.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db, django_user_model, fast_password_hashing):
    """Return a factory of users: ``make_user("name")`` or ``make_user()``."""

    def make(username: str | None = None, **extra):
        username = username or f"user{next(_usernames)}"
        return django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)

    return make


@pytest.fixture
def anna(make_user):
    return make_user("anna")


@pytest.fixture
def boris(make_user):
    return make_user("boris")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def make_client():
    """Return a factory of test clients logged in as a user."""

    def make(user, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(user)
        return client

    return make


@pytest.fixture
def anna_client(make_client, anna) -> Client:
    return make_client(anna)


@pytest.fixture
def boris_client(make_client, boris) -> Client:
    return make_client(boris)


@pytest.fixture
def carol_client(make_client, carol) -> Client:
    return make_client(carol)


@pytest.fixture
def thread(anna, boris) -> Thread:
    """The thread of anna and boris, with no messages yet."""
    return thread_get_or_create_for_pair(user=anna, other=boris)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """
    Return ``send(sender, thread, text)``: create a message through the service
    and run its after-commit work (counters, fan-out), as a real commit would.
    """

    def send(sender, thread: Thread, text: str = "Привет!") -> Message:
        with django_capture_on_commit_callbacks(execute=True):
            return message_create(sender=sender, thread=thread, text=text)

    return send


class ElementIndex(HTMLParser):
    """Collect the tag, attributes and text of each element of a page that has an id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, dict] = {}
        self.by_class: dict[str, list[dict]] = {}
        self._open: list[dict] = []
        self.feed(html)

    _VOID = {"input", "meta", "link", "br", "img", "hr"}

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        if "id" in element["attrs"]:
            self.by_id[element["attrs"]["id"]] = element
        for name in (element["attrs"].get("class") or "").split():
            self.by_class.setdefault(name, []).append(element)
        if tag not in self._VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index]["tag"] == tag:
                del self._open[index:]
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data


@pytest.fixture
def parse_html():
    return lambda response: ElementIndex(response.content.decode())


@pytest.fixture
def start_servers(transactional_db, tmp_path):
    """
    Return ``start(count=1, port=None, **env)``: that many ASGI processes sharing
    this test's data (on *port* for one), running; all are stopped at teardown.
    """
    started: list[ServerProcess] = []

    def start(count: int = 1, port: int | None = None, **env: str) -> list[ServerProcess]:
        ports = [port] if port is not None else [free_port() for _ in range(count)]
        servers = [ServerProcess(p, tmp_path, server_env(**env)) for p in ports]
        started.extend(servers)
        for server in servers:
            server.start()
        return servers

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, and Django then
    # refuses ORM calls from it; the test's ORM calls are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
        # ORM calls under Playwright's loop open their own connection (Django
        # keys connections by async context): close it, or it outlives the test
        # database.
        connections.close_all()


@pytest.fixture
def chat():
    """
    Two users in one thread, a third outside it, and their session cookies, for
    the socket tests (a module may define its own ``chat``).
    """
    anna, boris, carol = make_rt_user("anna"), make_rt_user("boris"), make_rt_user("carol")
    first = message_send_to_username(sender=anna, recipient_username="boris", text="Привет!")
    return {
        "anna": anna,
        "boris": boris,
        "carol": carol,
        "thread": first.thread,
        "first": first,
        "cookies": {u.username: session_cookie(u) for u in (anna, boris, carol)},
    }
