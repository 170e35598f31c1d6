"""
"The skill is typing": while a skill works on a thread, its typing frame goes to the
thread's sockets at once and every SKILLCHAT_TYPING_INTERVAL seconds (a browser shows one
for 8 s), from one ticker thread per process for all the threads being answered.
"""

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from privatemessages import events
from privatemessages.group_send import group_send_many

from . import loops
from .conf import app_settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# thread id -> (skill user id, username), while its skill works.
_working: dict[int, tuple[int, str]] = {}
_ticker: threading.Thread | None = None
# The server's event loop, seen by the last job that started typing.
_loop = None


def _send(items: list[tuple[int, tuple[int, str]]]) -> None:
    sends = [
        (
            events.thread_group(thread_id),
            events.typing_event(thread_id=thread_id, user_id=user_id, username=username),
        )
        for thread_id, (user_id, username) in items
    ]
    try:
        group_send_many(sends)
    except Exception:
        # Only an indicator: a failure loses nothing.
        logger.warning("Could not send the skills' typing frames", exc_info=True)


def _tick() -> None:
    while True:
        time.sleep(app_settings.TYPING_INTERVAL)
        with _lock:
            items = list(_working.items())
            loop = _loop
        if items:
            # Beside the server's loop when there is one (loops.py: the in-memory layer).
            loops.submit(
                _sender(), loop if loop is not None and loop.is_running() else None, _send, items
            )


@functools.cache
def _sender() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="skillchat-typing-send")


@contextlib.contextmanager
def typing(thread_id: int, user_id: int, username: str) -> Iterator[None]:
    """Show the skill's account as typing in the thread for the duration of the block."""
    global _ticker, _loop
    _send([(thread_id, (user_id, username))])
    with _lock:
        _working[thread_id] = (user_id, username)
        _loop = loops.main_loop() or _loop
        if _ticker is None or not _ticker.is_alive():
            _ticker = threading.Thread(target=_tick, name="skillchat-typing", daemon=True)
            _ticker.start()
    try:
        yield
    finally:
        with _lock:
            _working.pop(thread_id, None)
