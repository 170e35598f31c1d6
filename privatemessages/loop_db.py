"""
The event loop's own database connections, for the one statement a socket's
message needs (services.message_create_on_loop): psycopg's asyncio driver,
from a small pool per event loop (psycopg_pool).

Why not a database thread, as for everything else: a message saved in a thread
costs a hop there and back, and the thread sleeps and wakes on each of its round
trips (Redis, PostgreSQL, Redis), taking the GIL back from the loop each time.
On the loop, those waits are the loop's, shared with every other socket's work.
Only PostgreSQL: SQLite has no asyncio driver, and it serves development, where
the threads do.
"""

import asyncio

import psycopg
from django.db import connection
from psycopg_pool import AsyncConnectionPool

from .conf import app_settings
from .per_loop import per_loop


def saves_on_loop() -> bool:
    """Whether sockets save messages from the event loop (PostgreSQL, SAVE_ON_LOOP on)."""
    return bool(app_settings.SAVE_ON_LOOP) and connection.vendor == "postgresql"


def _new_pool() -> AsyncConnectionPool:
    params = connection.get_connection_params()
    # Django's adapters (its UTC timestamps, its JSON) come with "context";
    # its cursor class is a synchronous one. Client-side binding: the
    # message's query is several statements, which the extended protocol of
    # server-side binding refuses.
    params.pop("cursor_factory", None)
    params |= {"autocommit": True, "cursor_factory": psycopg.AsyncClientCursor}
    return AsyncConnectionPool(
        kwargs=params,
        min_size=1,
        max_size=app_settings.DB_THREADS,
        open=False,
        # As long as Django's own pool waits (settings.DATABASES): past it, the
        # sender is told the message was not saved, and resends it.
        timeout=_django_pool_timeout(),
        name="privatemessages-loop",
    )


def _django_pool_timeout() -> float:
    pool = connection.settings_dict["OPTIONS"].get("pool")
    # "pool": True (Django's defaults) or a dict of psycopg_pool's options.
    return float(pool.get("timeout", 30.0)) if isinstance(pool, dict) else 30.0


class _LoopPool:
    """The running loop's pool, made and opened by its first user."""

    def __init__(self) -> None:
        self.pool: AsyncConnectionPool | None = None
        self._opening: asyncio.Future | None = None

    async def opened(self) -> AsyncConnectionPool:
        if self.pool is None:
            self.pool = _new_pool()
            # Starts its workers, which connect in the background.
            self._opening = asyncio.ensure_future(self.pool.open())
        # Shielded: a socket that goes away must not cancel the opening others wait for.
        await asyncio.shield(self._opening)
        return self.pool

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()


_loop_pool = per_loop(_LoopPool)


async def loop_pool() -> AsyncConnectionPool:
    """The running event loop's connection pool, opened on first use."""
    return await _loop_pool().opened()


async def close_loop_pool() -> None:
    """Close the running loop's pool (a test that ends its loop; the next use opens another)."""
    await _loop_pool().close()
