"""
The console log (settings.LOGGING, myproject/log_config.py): one line per
request under runserver, libraries' records below WARNING kept off it (such
as pymorphy's "Loading dictionaries…" in the middle of alice_chat), times in UTC.
"""

import datetime as dt
import logging
import os
import re
import subprocess
import sys
import urllib.request

import pytest
from django.conf import settings

from deploy.processes import free_port, stop_group, wait_for_port
from myproject.log_config import LibraryChatterFilter, UTCFormatter
from privatemessages.tests.servers import server_env

# "2026-12-01T02:08:53.133Z INFO django.channels.server: HTTP GET /accounts/login/ 200 [...]"
LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\w+) ([\w.]+): (.*)")


def record(name: str, level: int, created: float = 0.0) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, "something happened", None, None)
    made.created, made.msecs = created, round((created % 1) * 1000)
    return made


def console_handler() -> logging.Handler:
    # By name: pytest adds handlers of its own to the root logger.
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    return handler


def test_the_console_writes_times_in_utc_whatever_the_sites_zone():
    assert settings.TIME_ZONE != "UTC"  # and Django set the process's zone to it
    created = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC).timestamp()
    line = console_handler().format(record("privatemessages.consumers", logging.INFO, created))
    assert line == "2026-01-02T03:04:05.678Z INFO privatemessages.consumers: something happened"
    assert isinstance(console_handler().formatter, UTCFormatter)


@pytest.mark.parametrize(
    ("name", "level", "shown"),
    [
        ("pymorphy3.opencorpora_dict.wrapper", logging.INFO, False),
        ("daphne.server", logging.INFO, False),
        ("asyncio", logging.DEBUG, False),
        ("pymorphy3.opencorpora_dict.wrapper", logging.WARNING, True),
        ("redis", logging.ERROR, True),
        ("privatemessages.consumers", logging.INFO, True),
        ("alice.webhook", logging.INFO, True),
        ("accounts.throttle", logging.INFO, True),
        ("django.channels.server", logging.INFO, True),
        ("django.request", logging.INFO, True),
    ],
)
def test_libraries_below_warning_stay_off_the_console(name, level, shown):
    assert LibraryChatterFilter().filter(record(name, level)) is shown
    assert any(isinstance(f, LibraryChatterFilter) for f in console_handler().filters)


def test_djangos_loggers_write_through_the_one_console_handler():
    """Django's defaults give 'django' a console handler of its own: each line came twice."""
    for name in ("django", "django.server", "django.channels.server", "django.request"):
        logger = logging.getLogger(name)
        assert logger.handlers == [], name
        assert logger.propagate, name


def test_alice_chat_prints_the_dialog_and_no_library_chatter():
    result = subprocess.run(
        [sys.executable, "manage.py", "alice_chat", "--language", "en"],
        input="Саша\n25\nкошки\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=settings.BASE_DIR,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "LOG_LEVEL": "INFO"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Loading dictionaries" not in result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    # The command's own words in English; the skill speaks Russian.
    assert lines[0] == "Alice: Добрый день! Как вас зовут?"
    assert lines[-1] == "(session over)"


@pytest.mark.servers
@pytest.mark.django_db(transaction=True)
def test_runserver_prints_each_request_once_in_utc(tmp_path):
    port = free_port()
    log = tmp_path / "runserver.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=settings.BASE_DIR,
            env=server_env(LOG_LEVEL="INFO"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, server, log=log)
        before = dt.datetime.now(dt.UTC)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=30) as r:
            assert r.status == 200
        after = dt.datetime.now(dt.UTC)
    finally:
        stop_group(server)
    output = log.read_text()
    requests = [line for line in output.splitlines() if "GET /accounts/login/" in line]
    assert len(requests) == 1, output
    stamp, level, logger, message = LINE.fullmatch(requests[0]).groups()
    assert (level, logger) == ("INFO", "django.channels.server")
    assert message.startswith("HTTP GET /accounts/login/ 200")
    logged = dt.datetime.fromisoformat(stamp)
    assert before - dt.timedelta(seconds=1) <= logged <= after + dt.timedelta(seconds=1)
    assert "Loading dictionaries" not in output
