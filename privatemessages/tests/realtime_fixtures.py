"""Helpers of the real-time tests: users, session cookies, sockets, skip rules."""

import asyncio
import itertools
import json
import os
import shutil

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

PASSWORD = "rt-password-123"
ORIGIN = "http://127.0.0.1"

# Generous: a CI machine can be slow, and a hung test is worse than a slow one.
TIMEOUT = 10

_numbers = itertools.count(1)


def make_rt_user(username: str | None = None, *, password: str | None = None):
    """
    Create a user through the ORM, so any username goes. Without *password*
    the user can only be logged in with force_login: hashing a password costs
    a good part of a second.
    """
    username = username or f"rt-user-{os.getpid()}-{next(_numbers)}"
    return get_user_model().objects.create_user(username=username, password=password)


def session_cookie(user) -> str:
    """Return a ``sessionid=...`` cookie of a fresh session logged in as *user*."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def communicator(path: str, cookie: str | None = None, origin: str | None = ORIGIN):
    """Return a WebsocketCommunicator on the site's real ASGI application."""
    from myproject.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive(comm: WebsocketCommunicator, timeout: float = TIMEOUT) -> dict:
    """Return the next JSON frame the server sent on *comm*."""
    return json.loads(await comm.receive_from(timeout=timeout))


async def receive_until(comm, frame_type: str, timeout: float = TIMEOUT) -> list[dict]:
    """Return the frames received up to and including the first of *frame_type*."""
    frames = []

    async def collect():
        while True:
            frame = await receive(comm, timeout)
            frames.append(frame)
            if frame["type"] == frame_type:
                return frames

    return await asyncio.wait_for(collect(), timeout)


async def drain(comm, quiet: float = 0.3) -> list[dict]:
    """Return every frame that arrives until none has for *quiet* seconds."""
    frames = []
    # receive_nothing, not a receive timeout: a timeout cancels the application.
    for _ in range(10_000):
        if await comm.receive_nothing(timeout=quiet):
            break
        frames.append(await receive(comm))
    return frames


async def open_chat(thread_id: int, cookie: str, *, after: int | None = 0):
    """Connect to a chat socket and, unless *after* is None, sync from *after*."""
    comm = communicator(f"/ws/messages/{thread_id}/", cookie)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    replayed = []
    if after is not None:
        await comm.send_json_to({"type": "sync", "after": after})
        replayed = await receive_until(comm, "synced")
    return comm, replayed


def needs_real_services(what: str = "PostgreSQL and Redis"):
    """
    Skip marker for tests that need real server processes: they need REDIS_URL
    and a database the processes can share. Under CI nothing may skip.
    """
    reasons = []
    if not settings.REDIS_URL:
        reasons.append("REDIS_URL is not set")
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        reasons.append("the test database is SQLite (set DATABASE_URL to PostgreSQL)")
    return _skip_or_fail(reasons, what)


# Tests of what only Redis keeps (the threads' heads, presence shared by processes).
needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs Redis (set REDIS_URL): the threads' heads live there"
)


def count_database_syncs(monkeypatch) -> list:
    """Return the list of the chat sockets' database reads for a sync, from now on."""
    from privatemessages.consumers import ChatConsumer

    calls = []
    real = ChatConsumer._stored_after_with_reads

    def counted(self, *args):
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(ChatConsumer, "_stored_after_with_reads", counted)
    return calls


def needs_programs(*programs: str):
    missing = [p for p in programs if not (shutil.which(p) or os.path.exists(p))]
    return _skip_or_fail([f"{p} is not installed" for p in missing], ", ".join(programs))


def _skip_or_fail(reasons: list[str], what: str):
    # Under CI the test runs, and fails loudly if it cannot work.
    skip = bool(reasons) and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}
    return pytest.mark.skipif(skip, reason=f"needs {what}: {'; '.join(reasons)}")


# Every module of tests against real server processes: the processes share the
# test database (so its data is committed) and need PostgreSQL and Redis.
REAL_SERVERS_MARKS = [
    pytest.mark.servers,
    pytest.mark.django_db(transaction=True),
    needs_real_services(),
]
