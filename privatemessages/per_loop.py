"""One object per running event loop: what holds connections (a Redis client, a
channel layer subscription) serves the loop it was made on, and goes with it."""

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def per_loop(make: Callable[[], T]) -> Callable[[], T]:
    """Return a function that gives the running loop's ``make()``, made on first use."""
    made: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get() -> T:
        loop = asyncio.get_running_loop()
        instance = made.get(loop)
        if instance is None:
            instance = made[loop] = make()
        return instance

    return get
