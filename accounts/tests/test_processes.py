"""
Log-in flood and database pool exhaustion against a real ASGI process, started
as deploy/cluster.py starts it (uvicorn), on PostgreSQL and Redis.
"""

import http.client
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie

import psycopg
import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.db import connection

from deploy.processes import free_port
from privatemessages.tests.realtime_fixtures import REAL_SERVERS_MARKS
from privatemessages.tests.servers import ServerProcess, database_url, server_env

pytestmark = REAL_SERVERS_MARKS

PASSWORD = "a-real-password-4521"


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def cookie(self, name: str) -> str | None:
        jar = SimpleCookie()
        for header in self.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return jar[name].value if name in jar else None


def fetch(
    server: ServerProcess,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    source: str = "127.0.0.1",
    timeout: float = 60,
) -> Response:
    """Make one request from the loopback address *source* on a connection of its own."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=timeout, source_address=(source, 0)
    )
    headers = {}
    body = None
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def log_in(server: ServerProcess, username: str, password: str, **kwargs) -> Response:
    """POST the log-in form as a browser would: with the CSRF cookie of a GET of it."""
    token = fetch(server, "GET", "/accounts/login/", **kwargs).cookie("csrftoken")
    return fetch(
        server,
        "POST",
        "/accounts/login/",
        form={"username": username, "password": password, "csrfmiddlewaretoken": token},
        cookies={"csrftoken": token},
        **kwargs,
    )


@pytest.fixture
def start_server(transactional_db, tmp_path, settings):
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        # Counters of its own, within the run's prefix (removed with it): the run's
        # other servers count failed log-ins from 127.0.0.1 too, in the same window.
        prefix = f"{settings.REDIS_KEY_PREFIX}{uuid.uuid4().hex[:8]}:"
        server = ServerProcess(free_port(), tmp_path, server_env(REDIS_KEY_PREFIX=prefix, **env))
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def test_a_flood_of_wrong_passwords_is_throttled_without_errors(start_server, settings):
    # The server's hasher: the flood is to cost what it costs in production.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    get_user_model().objects.create_user(username="anna", password=PASSWORD)
    server = start_server(LOGIN_THROTTLE_PAIR_LIMIT="3", LOGIN_THROTTLE_ADDRESS_LIMIT="6")

    token = fetch(server, "GET", "/accounts/login/").cookie("csrftoken")
    form = {"username": "anna", "password": "wrong", "csrfmiddlewaretoken": token}

    def guess(_):
        return fetch(server, "POST", "/accounts/login/", form=form, cookies={"csrftoken": token})

    with ThreadPoolExecutor(60) as pool:
        statuses = [response.status for response in pool.map(guess, range(60))]

    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) <= 3
    # The owner, from another address, during the lockout of the attacker's.
    response = log_in(server, "anna", PASSWORD, source="127.0.0.2")
    assert response.status == 302
    page = fetch(
        server,
        "GET",
        "/messages/",
        cookies={"sessionid": response.cookie("sessionid")},
        source="127.0.0.2",
    )
    assert page.status == 200
    log = server.log.read_text()
    assert "Internal Server Error" not in log
    # Logged once, when the limit was reached; not once per refusal.
    assert log.count("Log-in throttle: 3 attempts at one account from 127.0.0.1") == 1
    assert "Too Many Requests" not in log


def test_an_exhausted_pool_is_answered_503_at_once(start_server):
    server = start_server(DATABASE_POOL_SIZE="1", DATABASE_POOL_TIMEOUT="0.5")
    cookies = {"sessionid": "x" * 32}
    database = connection.settings_dict["NAME"]
    # A slow query holding the process's only connection: its session lookup
    # waits for a lock this test holds.
    with psycopg.connect(database_url()) as holder:
        holder.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
        first: list[Response] = []
        waiting = threading.Thread(
            target=lambda: first.append(fetch(server, "GET", "/messages/", cookies=cookies))
        )
        waiting.start()
        try:
            with psycopg.connect(database_url(), autocommit=True) as watcher:
                for _ in range(200):
                    blocked = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = %s AND wait_event_type = 'Lock'",
                        [database],
                    ).fetchone()[0]
                    if blocked:
                        break
                    time.sleep(0.05)
                assert blocked, "the first request never reached the database"

            started = time.monotonic()
            second = fetch(server, "GET", "/messages/", cookies=cookies, timeout=20)
            elapsed = time.monotonic() - started
        finally:
            holder.rollback()
            waiting.join(30)

    assert second.status == 503
    assert second.headers["Retry-After"] == "5"
    assert "Сервер перегружен" in second.body.decode()
    # The pool's half second, not the ten seconds it used to wait.
    assert elapsed < 8
    # The request that held the connection is served once the lock is gone.
    assert [response.status for response in first] == [302]
    log = server.log.read_text()
    assert log.count("Database pool exhausted") == 1
    assert "Service Unavailable" not in log
    assert "Internal Server Error" not in log
