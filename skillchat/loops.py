"""
Running skill work beside the ASGI server's event loop. The in-memory channel layer (the
embedded setup) only delivers events sent on the server's own loop; asgiref routes a sync
thread's async_to_sync there when the thread was started by sync_to_async from that loop.
So the skills' threads are started that way when there is such a loop (the thread that
committed a message was), and plainly otherwise (a management command, WSGI).
"""

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async


def main_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop of the server this thread works for (asgiref's), or None."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop if loop.is_running() and not loop.is_closed() else None


def submit(
    executor: Executor, loop: asyncio.AbstractEventLoop | None, function: Callable, *args: Any
) -> None:
    """Run ``function(*args)`` on *executor*: as sync_to_async from *loop* when there is one."""
    if loop is None:
        executor.submit(function, *args)
        return
    call = sync_to_async(function, thread_sensitive=False, executor=executor)
    asyncio.run_coroutine_threadsafe(call(*args), loop)
