"""
Where the chat's sockets run their database work: a few threads per process.
"""

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async

from .conf import app_settings


def in_database_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    """
    Return an awaitable version of *function*, run in one of the process's
    database threads, with stale database connections closed before and after.

    Several threads, unlike Channels' default (thread-sensitive: all of a
    process's database work on one thread, so that a process saved one
    message at a time). These calls share nothing but the connection pool,
    and the order of a thread's messages is kept by its row lock
    (services.message_create) and, for live events, by their prev_id (see
    delivery.LiveOrder).
    """
    return database_sync_to_async(function, thread_sensitive=False, executor=_database_threads())


@functools.cache
def _database_threads() -> ThreadPoolExecutor:
    # Its own pool, sized below the database connection pool: each thread
    # holds at most one connection at a time.
    return ThreadPoolExecutor(
        max_workers=app_settings.DB_THREADS, thread_name_prefix="privatemessages-db"
    )
