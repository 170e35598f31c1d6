"""
The deadline guard: a turn that has not answered in time is answered with a fallback.

Dialogs waits 4.5 s for an answer, network included, and ends the user's session when it is
late. A turn's time goes to waiting for its session's lock (the previous request of the
session still running) and to outside calls, which a script makes through recorded(). So
the skill waits for the lock at most until the deadline, and recorded() runs its call on a
worker thread and waits for it until the deadline: past it the turn is abandoned (the
dialog does not advance, nothing is recorded) and the user hears ``Skill.deadline_text``.
Code a script runs between its yields outside recorded() is not interrupted: it is the
script's own, and fast.

Why abandon rather than finish the turn late: a generator cannot be suspended in the
middle of a turn, so finishing it after the fallback was sent would take running every
turn off the request thread (a thread hand-off on the hot path of every request), and the
late answer would reach the user as the answer to a later utterance. Abandoned, the record
stays as the user heard it: the fallback asks to say it again, and the turn runs again.
"""

import contextvars
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_DEADLINE",
    "DeadlineExceeded",
    "call_before",
    "default_deadline",
    "set_default_deadline",
]

T = TypeVar("T")

# Seconds a turn may take before the fallback is sent: below Dialogs' 4.5 s with room for
# the network (aliceio answers at 4 s, aioalice at 2.7 s).
DEFAULT_DEADLINE = 3.0
# Outside calls running at once in a process; more wait for a worker (and their deadline).
MAX_WORKERS = 32

_default = DEFAULT_DEADLINE
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class DeadlineExceeded(BaseException):
    """
    The turn's deadline passed during an outside call; the turn is abandoned.

    A BaseException, so that a script's ``except Exception`` does not swallow it.
    """


def set_default_deadline(seconds: float | None) -> None:
    """Set the deadline of every skill not given its own (None: no deadline)."""
    global _default
    _default = seconds


def default_deadline() -> float | None:
    """Return the deadline of a skill not given its own."""
    return _default


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="alice-recorded")
    return _pool


def _forget_pool() -> None:
    # A forked child (a server's worker) has none of its parent's threads.
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def call_before(deadline: float, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """
    Return ``function(*args, **kwargs)`` if it returns before *deadline* (time.monotonic()),
    else raise DeadlineExceeded. The call runs on a worker thread, in a copy of this
    context; one that is late goes on there, and its result is dropped.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded("the turn's deadline passed before the call")
    context = contextvars.copy_context()
    future: Future[T] = _executor().submit(context.run, function, *args, **kwargs)
    try:
        return future.result(timeout=remaining)
    except FutureTimeout:
        raise DeadlineExceeded(f"the call of {function!r} passed the turn's deadline") from None
