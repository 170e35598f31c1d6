"""
Dialogs served by real server processes (granian, as deployed) sharing a durable store:
restarts, plain round-robin between processes, retries and concurrent requests across
processes.

Each test runs on Redis (needs REDIS_URL) and on the database store: the test PostgreSQL
database when the suite runs on PostgreSQL, else a SQLite file the processes share.
"""

import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from .concurrency import run_together
from .conftest import REPO_ROOT, skip_unless_ci
from .servers import PING, Server, free_port
from .test_engine import request_for

pytestmark = [pytest.mark.servers]

GREETING = "Добрый день! Как вас зовут?"
ASK_AGE = "Сколько вам лет?"
REASK_AGE = "Я вас не поняла. Скажите число"
ASK_PET = "Вы любите кошек или собак?"
REASK_PET = "У вас только два варианта - кошки или собаки"

STORES = {
    "redis": "alice.engine.redis_store.RedisSessionStore",
    "database": "alice.db_store.DatabaseSessionStore",
}


def database_url(tmp_path: Path) -> str:
    """Return a URL of a database the server processes can share, with alice's tables."""
    db = settings.DATABASES["default"]
    if connection.vendor == "postgresql":
        # The test database (the test is transactional: rows are committed, then flushed).
        user = db["USER"] or ""
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        return (
            f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{db['NAME']}"
        )
    url = f"sqlite:///{tmp_path / 'alice.sqlite3'}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "alice", "--no-input", "-v", "0"],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return url


@pytest.fixture(params=list(STORES))
def server_env(request, tmp_path, transactional_db) -> dict[str, str]:
    """Return the environment of server processes sharing one durable store."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "alice.tests.server_settings",
        "DEBUG": "0",
        "SECRET_KEY": uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "DATABASE_CONN_MAX_AGE": "60",
        "DATABASE_URL": database_url(tmp_path),
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,  # the test run's: cleaned up after
        "ALICE_SESSION_STORE": STORES[request.param],
    }
    env.pop("DATABASE_TEST_NAME", None)
    if request.param == "redis":
        if not settings.REDIS_URL:
            skip_unless_ci("REDIS_URL is not set")
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env["REDIS_URL"] = ""
    return env


@pytest.fixture
def start_servers(server_env, tmp_path):
    """Return a function starting N servers; every server started is stopped afterwards."""
    started: list[Server] = []

    def start(count: int) -> list[Server]:
        servers = [
            Server(server_env, tmp_path, f"server-{len(started) + i}") for i in range(count)
        ]
        started.extend(servers)
        for server in servers:
            server.start()
        return servers

    yield start
    for server in started:
        server.stop()


def text(response: dict) -> str:
    return response["response"]["text"]


def test_a_dialog_survives_a_killed_and_restarted_server(start_servers):
    """Half a dialog, a crash (SIGKILL), a new process: the dialog goes on where it was."""
    (server,) = start_servers(1)
    session_id = str(uuid.uuid4())
    assert text(server.post("/alice/", request_for(session_id, 0, new=True))) == GREETING
    assert text(server.post("/alice/", request_for(session_id, 1, "Саша"))) == ASK_AGE
    assert text(server.post("/alice/", request_for(session_id, 2, "не скажу"))) == REASK_AGE
    server.kill()
    (restarted,) = start_servers(1)
    assert text(restarted.post("/alice/", request_for(session_id, 3, "41"))) == ASK_PET
    assert text(restarted.post("/alice/", request_for(session_id, 4, "собаки"))) == (
        "Рада познакомиться, Саша! Когда вам исполнится 42, я могу подарить щенка!"
    )


def readme_dialog(seed: int) -> list[tuple[str, str]]:
    """Return one varied README dialog: (utterance, expected answer) for each request."""
    rng = random.Random(seed)
    name = rng.choice(["Саша", "Анна", "Пётр", "Мария-Луиза", "Ёж"])
    age = rng.randint(1, 99)
    cats = rng.random() < 0.5
    steps = [("", GREETING), (name, ASK_AGE)]
    for _ in range(rng.randint(0, 2)):
        steps.append((rng.choice(["не скажу", "двадцать", "мне 25"]), REASK_AGE))
    steps.append((str(age), ASK_PET))
    for _ in range(rng.randint(0, 2)):
        steps.append((rng.choice(["рыбок", "не знаю", "попугаев"]), REASK_PET))
    pet = rng.choice(["Обожаю кошечек", "кошки"] if cats else ["Люблю собак", "собачки"])
    gift = "котёнка" if cats else "щенка"
    steps.append(
        (
            pet,
            f"Рада познакомиться, {name}! Когда вам исполнится {age + 1}, я могу подарить {gift}!",
        )
    )
    return steps


def test_200_readme_dialogs_alternating_between_two_servers(start_servers):
    """Every request goes to the other process than the one before (round robin): 200
    dialogs, 8 at a time, each complete with the right texts."""
    servers = start_servers(2)

    def run(seed: int) -> list[str]:
        session_id = f"rr-{seed}-{uuid.uuid4().hex[:8]}"
        problems = []
        for message_id, (utterance, expected) in enumerate(readme_dialog(seed)):
            server = servers[(seed + message_id) % 2]
            response = server.post(
                "/alice/", request_for(session_id, message_id, utterance, new=message_id == 0)
            )
            if text(response) != expected:
                problems.append(f"{session_id} #{message_id}: {text(response)!r} != {expected!r}")
        if not response["response"]["end_session"]:
            problems.append(f"{session_id}: the dialog did not end")
        return problems

    with ThreadPoolExecutor(8) as pool:
        problems = [problem for result in pool.map(run, range(200)) for problem in result]
    assert problems == [], "\n".join(problems[:20])


def test_a_retry_sent_to_the_other_server_gets_the_same_answer(start_servers):
    """The answer to (session, message_id) is in the store: the other process repeats it."""
    first, second = start_servers(2)
    session_id = str(uuid.uuid4())
    first.post("/alice/guess-number/", request_for(session_id, 0, new=True))
    encoded = json.dumps(request_for(session_id, 1, "готов")).encode()
    answer = first.post_raw("/alice/guess-number/", encoded)
    assert "50" in json.loads(answer)["response"]["text"]
    assert second.post_raw("/alice/guess-number/", encoded) == answer
    assert first.post_raw("/alice/guess-number/", encoded) == answer
    following = second.post("/alice/guess-number/", request_for(session_id, 2, "нет"))
    assert text(following).rstrip("?").endswith(" 25")


def test_one_request_sent_to_two_servers_at_once_advances_the_dialog_once(start_servers):
    """The same request to both processes at the same moment: one turn, one answer for both."""
    first, second = start_servers(2)
    for attempt in range(5):
        session_id = str(uuid.uuid4())
        assert text(first.post("/test/slow/", request_for(session_id, 0, new=True))) == "1"
        request = request_for(session_id, 1, "x")
        results = run_together(
            lambda request=request: first.post("/test/slow/", request),
            lambda request=request: second.post("/test/slow/", request),
        )
        assert [text(result) for result in results] == ["2", "2"], attempt
        assert text(second.post("/test/slow/", request_for(session_id, 2, "y"))) == "3"


def test_two_requests_sent_to_two_servers_at_once_are_served_in_turn(start_servers):
    """Two different requests of one session at once on two processes: no turn lost."""
    first, second = start_servers(2)
    session_id = str(uuid.uuid4())
    first.post("/test/slow/", request_for(session_id, 0, new=True))
    results = run_together(
        lambda: first.post("/test/slow/", request_for(session_id, 1, "a")),
        lambda: second.post("/test/slow/", request_for(session_id, 2, "b")),
    )
    assert sorted(text(result) for result in results) == ["2", "3"]
    assert text(first.post("/test/slow/", request_for(session_id, 3, "c"))) == "4"


def free_port_pair() -> int:
    """Return a port p such that p and p + 1 are free now."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def post_through(port: int, data: dict) -> tuple[dict, str]:
    """POST to /alice/ on *port*; return the answer and the upstream nginx chose."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", "/alice/", json.dumps(data).encode(), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        # "A, B" when nginx passed the request on from A (down) to B: B answered.
        return json.loads(body), response.getheader("X-Alice-Upstream", "").split(", ")[-1]
    finally:
        connection.close()


def test_the_deployment_recipe_serves_dialogs_round_robin(server_env, tmp_path):
    """deploy/alice/cluster.py: two processes behind nginx's round robin, one killed midway
    (and started again by the runner): every dialog completes, on both processes."""
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        skip_unless_ci("nginx is not installed")
    base, port = free_port_pair(), free_port()
    log_path = tmp_path / "cluster.log"
    with log_path.open("wb") as log:
        cluster = subprocess.Popen(
            [
                sys.executable,
                "deploy/alice/cluster.py",
                *("--processes", "2", "--base-port", str(base), "--port", str(port)),
                *("--run-dir", str(tmp_path / "run")),
                "--upstream-header",
            ],
            cwd=REPO_ROOT,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def wait_for_both_processes() -> None:
            upstreams: set[str] = set()
            deadline = time.monotonic() + 60
            while len(upstreams) < 2:
                assert cluster.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                try:
                    upstreams.add(post_through(port, PING)[1])
                except (OSError, AssertionError, ValueError):
                    time.sleep(0.2)

        wait_for_both_processes()
        for seed in range(20):
            session_id = f"cluster-{seed}-{uuid.uuid4().hex[:8]}"
            served_by = set()
            for message_id, (utterance, expected) in enumerate(readme_dialog(seed)):
                if seed == 10 and message_id == 2:
                    started = rf"granian on port {base}, pid (\d+)"
                    pid = re.findall(started, log_path.read_text())[-1]
                    os.killpg(int(pid), signal.SIGKILL)  # a crash mid-dialog
                request = request_for(session_id, message_id, utterance, new=message_id == 0)
                response, upstream = post_through(port, request)
                assert text(response) == expected, (session_id, message_id)
                served_by.add(upstream)
            assert response["response"]["end_session"]
            if seed == 10:  # the other process finished it; the runner restarts the killed one
                deadline = time.monotonic() + 30
                while f"granian on port {base} exited" not in log_path.read_text():
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.1)
                wait_for_both_processes()
            else:
                assert len(served_by) == 2, served_by
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)  # the runner stops its processes
        try:
            cluster.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(10)
        for pid in re.findall(r"pid (\d+)", log_path.read_text()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)
