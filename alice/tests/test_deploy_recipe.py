"""
The Alice deploy recipe (deploy/alice/cluster.py and its nginx template) as an operator gets
it: the rendered config, and a real cluster of two granian processes behind nginx.

The real runs share dialogs through the database (the test PostgreSQL database when the suite
runs on PostgreSQL, else a SQLite file of the test's own), so they need no Redis.
"""

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from .conftest import REPO_ROOT, skip_unless_ci
from .servers import PING, free_port
from .test_engine import request_for
from .test_servers import database_url, free_port_pair

CLUSTER = ["deploy/alice/cluster.py"]
START_TIMEOUT = 60.0
# The recipe's proxy_read_timeout (deploy/alice/nginx.conf.template).
READ_TIMEOUT = 5.0


def rendered_config(tmp_path: Path, *flags: str) -> str:
    """Return the nginx config the recipe renders (and has nginx test) with *flags*."""
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        skip_unless_ci("nginx is not installed")
    run_dir = tmp_path / "run"
    subprocess.run(
        [sys.executable, *CLUSTER, "--run-dir", str(run_dir), "--check", *flags],
        cwd=REPO_ROOT,
        env={**os.environ, "REDIS_URL": ""},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return (run_dir / "nginx.conf").read_text()


def test_the_config_names_no_upstream_and_no_version(tmp_path):
    config = rendered_config(tmp_path)
    assert "X-Alice-Upstream" not in config
    assert re.search(r"^\s*server_tokens off;", config, re.M)


def test_the_upstream_header_is_a_debugging_switch(tmp_path):
    config = rendered_config(tmp_path, "--upstream-header")
    assert re.search(r"^\s*add_header X-Alice-Upstream \$upstream_addr", config, re.M)


def test_the_config_is_sized_for_a_burst_and_counts_no_slow_answer(tmp_path):
    config = rendered_config(tmp_path)
    assert re.search(r"^worker_processes auto;", config, re.M)
    assert int(re.search(r"worker_connections (\d+);", config).group(1)) >= 4096
    assert re.search(r"^\s*listen \S+ backlog=\d+;", config, re.M)
    assert re.search(r"^\s*keepalive \d+;", config, re.M)
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ (.*);", config, re.M)
    # nginx counts every timeout as a failure whatever proxy_next_upstream says: no count.
    assert servers
    assert all(options == "max_fails=0" for options in servers), servers
    (next_upstream,) = re.findall(r"^\s*proxy_next_upstream (.*);", config, re.M)
    assert "error" in next_upstream.split()
    assert "timeout" not in next_upstream.split()


class RecipeCluster:
    """deploy/alice/cluster.py with two processes, as an operator starts it; always stopped."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.base, self.port = free_port_pair(), free_port()
        self.run_dir = tmp_path / "run"
        self.log_path = tmp_path / "cluster.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RecipeCluster":
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *CLUSTER,
                    *("--processes", "2", "--base-port", str(self.base), "--port", str(self.port)),
                    *("--run-dir", str(self.run_dir)),
                ],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.base, self.base + 1, self.port):
            while True:
                assert self.process.poll() is None, self.log()
                assert time.monotonic() < deadline, self.log()
                with contextlib.suppress(OSError, http.client.HTTPException):
                    if post(port, "/alice/", PING)[0] == 200:
                        break
                time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)  # the runner stops its processes
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for pid in re.findall(r"pid (\d+)", self.log()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def post(
    port: int, path: str, data: dict, timeout: float = 30
) -> tuple[int, bytes, http.client.HTTPResponse]:
    """POST *data* to *path* on *port*; return the status, the body and the response."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            "POST", path, json.dumps(data).encode(), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def cluster(tmp_path, transactional_db):
    """The recipe on two processes, started with what an operator's shell may hold."""
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        skip_unless_ci("nginx is not installed")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_TEST_NAME", "SECRET_KEY", "ALLOWED_HOSTS", "PYTEST_CURRENT_TEST"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="alice.tests.deploy_recipe_settings",
        # A developer's shell: the recipe must run with DEBUG off anyway.
        DEBUG="1",
        LOG_LEVEL="WARNING",
        DATABASE_URL=database_url(tmp_path),
        REDIS_URL="",
        REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
        ALICE_SESSION_STORE="alice.db_store.DatabaseSessionStore",
    )
    cluster = RecipeCluster(env, tmp_path)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_the_processes_run_with_debug_off_and_name_nothing(cluster):
    status, body, response = post(cluster.port, "/alice/", PING)
    assert status == 200
    assert b"pong" in body
    assert response.getheader("Server") == "nginx"
    assert response.getheader("X-Alice-Upstream") is None
    # Django's 404 through nginx, and from a process itself: no URLconf listed.
    for port in (cluster.port, cluster.base):
        status, body = get(port, "/alice/no-such-skill/")
        assert status == 404
        assert b"URLconf" not in body, body[:300]
        assert b"alice/late/" not in body, body[:300]
    log = cluster.log()
    assert "DEBUG=0" in log
    assert "plain HTTP" in log
    key_file = cluster.run_dir / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_a_slow_answer_takes_no_process_out(cluster):
    """Requests that nginx gives up on (a skill slower than its read timeout) get their 504
    once, on the process they reached, and every other request is still answered meanwhile
    and afterwards: no process is taken out of the rotation for them."""
    slow: list[tuple[int, float]] = []

    def ask_late() -> None:
        started = time.monotonic()
        request = request_for(f"late-{uuid.uuid4().hex[:8]}", 0, "hello", new=True)
        status, _, _ = post(cluster.port, "/alice/late/", request)
        slow.append((status, time.monotonic() - started))

    askers = [threading.Thread(target=ask_late) for _ in range(2)]
    for asker in askers:
        asker.start()
    time.sleep(0.3)  # both sent before the first ping
    statuses = []

    def ping() -> None:
        statuses.append(post(cluster.port, "/alice/", PING)[0])
        time.sleep(0.02)

    # Pings while the slow requests wait, and for a while after nginx gave up on them.
    while any(asker.is_alive() for asker in askers):
        ping()
    after = time.monotonic() + 3
    while time.monotonic() < after:
        ping()
    for asker in askers:
        asker.join()

    failed = [status for status in statuses if status != 200]
    assert not failed, (
        f"{len(failed)} of {len(statuses)} pings failed: {set(failed)}",
        cluster.log()[-3000:],
    )
    # Not passed on to the other process after the timeout: one wait, not two.
    assert [status for status, _ in slow] == [504, 504], slow
    assert all(seconds < 2 * READ_TIMEOUT for _, seconds in slow), slow
