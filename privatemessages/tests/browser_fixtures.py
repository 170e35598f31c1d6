"""What the browser tests share (their ``browser`` fixture is in conftest.py)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from .realtime_fixtures import needs_programs

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Every Chromium test module's marks: real server processes sharing the test database,
# and the browser (a skip with a reason without it, a failure under CI).
BROWSER_TEST_MARKS = [
    pytest.mark.browser,
    pytest.mark.servers,
    pytest.mark.django_db(transaction=True),
    needs_programs(CHROMIUM),
]
# Milliseconds: generous for a loaded CI machine.
WAIT = 15_000


def in_thread(function, **kwargs):
    """
    Call *function* in a worker thread: Playwright's event loop runs in this
    one, and a message's broadcast (async_to_sync) cannot run inside it.
    """

    def call():
        try:
            return function(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=30)
