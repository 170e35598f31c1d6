"""What the browser tests share (their ``browser`` fixture is in conftest.py)."""

from concurrent.futures import ThreadPoolExecutor

from django.db import connection

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
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
