"""
The chat's deploy recipe (deploy/cluster.py, deploy/supervisor.py and the nginx template) as
an operator gets it: production settings whatever the shell holds, the rendered config, and a
real cluster's pages.
"""

import http.client
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings

from privatemessages.tests.realtime_fixtures import needs_programs, needs_real_services
from privatemessages.tests.servers import Cluster, server_env

BASE_DIR = settings.BASE_DIR


def test_the_processes_run_with_debug_off_whatever_the_shell_says(tmp_path):
    from deploy.supervisor import SECRET_KEY_FILE, production_env

    env, notes = production_env(
        {"DEBUG": "1", "SECURE_SSL_REDIRECT": "1", "PATH": "/bin"},
        run_dir=tmp_path,
        host="127.0.0.1",
    )
    assert env["DEBUG"] == "0"
    assert any("DEBUG=1" in note for note in notes), notes
    # nginx serves plain HTTP: a redirect to https:// would lead nowhere.
    assert env["SECURE_SSL_REDIRECT"] == "0"
    assert env["ALLOWED_HOSTS"].split(",") == ["127.0.0.1", "localhost", "[::1]"]
    assert env["DJANGO_SETTINGS_MODULE"] == "myproject.settings"
    assert env["PATH"] == "/bin"
    assert env["SECRET_KEY"] == (tmp_path / SECRET_KEY_FILE).read_text().strip()
    assert len(env["SECRET_KEY"]) >= 50


def test_the_secret_key_is_kept_private_and_reused(tmp_path):
    from deploy.supervisor import SECRET_KEY_FILE, RecipeError, production_env

    first, _ = production_env({}, run_dir=tmp_path, host="127.0.0.1")
    again, _ = production_env({}, run_dir=tmp_path, host="127.0.0.1")
    key_file = tmp_path / SECRET_KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert again["SECRET_KEY"] == first["SECRET_KEY"]
    key_file.chmod(0o644)
    with pytest.raises(RecipeError, match="other users"):
        production_env({}, run_dir=tmp_path, host="127.0.0.1")


def test_the_environment_s_key_and_hosts_win(tmp_path):
    from deploy.supervisor import SECRET_KEY_FILE, production_env

    env, _ = production_env(
        {"SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "chat.example.org"},
        run_dir=tmp_path,
        host="0.0.0.0",
    )
    assert env["SECRET_KEY"] == "k" * 50
    assert env["ALLOWED_HOSTS"] == "chat.example.org"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "*"])
def test_every_address_needs_allowed_hosts(tmp_path, host):
    from deploy.supervisor import RecipeError, production_env

    with pytest.raises(RecipeError, match="ALLOWED_HOSTS"):
        production_env({}, run_dir=tmp_path, host=host)


def test_a_served_address_is_allowed(tmp_path):
    from deploy.supervisor import production_env

    env, _ = production_env({}, run_dir=tmp_path, host="10.1.2.3")
    assert env["ALLOWED_HOSTS"].split(",")[0] == "10.1.2.3"
    env, _ = production_env({}, run_dir=tmp_path, host="::1")
    assert env["ALLOWED_HOSTS"].split(",") == ["[::1]", "127.0.0.1", "localhost"]


@needs_programs("nginx")
def test_the_config_hides_the_version_and_counts_no_slow_answer(tmp_path):
    run_dir = tmp_path / "run"
    subprocess.run(
        [
            *(sys.executable, "deploy/cluster.py", "--processes", "2"),
            *("--run-dir", str(run_dir), "--check"),
        ],
        cwd=BASE_DIR,
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"},
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = (run_dir / "nginx.conf").read_text()
    assert re.search(r"^\s*server_tokens off;", config, re.M)
    assert re.search(r"^\s*listen \S+ backlog=\d+;", config, re.M)
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ (.*);", config, re.M)
    assert len(servers) == 2
    # nginx counts every timeout as a failure whatever proxy_next_upstream says: no count.
    assert all(options == "max_fails=0" for options in servers), servers
    for next_upstream in re.findall(r"^\s*proxy_next_upstream (.*);", config, re.M):
        assert "timeout" not in next_upstream.split(), next_upstream


def get(port: int, path: str) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


@pytest.mark.servers
@pytest.mark.django_db(transaction=True)
@needs_real_services()
@needs_programs("nginx")
def test_the_cluster_serves_pages_with_debug_off(transactional_db, tmp_path):
    # server_env() says DEBUG=1, as a developer's shell may: the recipe runs with DEBUG off.
    cluster = Cluster(2, tmp_path, server_env()).start()
    try:
        # Django's 404, through nginx and from a process itself: no URLconf listed.
        for port in (cluster.port, cluster.ports[0]):
            status, body, _ = get(port, "/no-such-page/")
            assert status == 404
            assert b"URLconf" not in body, body[:300]
            assert b"messages/" not in body, body[:300]

        status, body, response = get(cluster.port, "/accounts/login/")
        assert status == 200
        assert response.getheader("Server") == "nginx"
        # Collected static files under their hashed names (the manifest of DEBUG=0), served.
        static = re.findall(rb'"/static/([^"]+)"', body)
        assert static
        for name in static:
            assert re.search(rb"\.[0-9a-f]{12}\.\w+$", name), name
            status, _, _ = get(cluster.port, f"/static/{name.decode()}")
            assert status == 200, name

        log = cluster.log.read_text()
        assert "DEBUG=1 in the environment is ignored" in log
        assert "plain HTTP" in log
    finally:
        cluster.stop()
