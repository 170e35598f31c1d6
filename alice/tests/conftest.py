"""Fixtures of the alice tests: the protocol samples, fresh session stores, the backends."""

import copy
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from alice.db_store import DatabaseSessionStore
from alice.engine import MemorySessionStore, SessionStore, storage
from alice.engine.redis_store import RedisSessionStore
from alice.models import DialogSession
from alice.scripts import acquaintance, guess_number, pet_gift
from alice.testing.pytest_plugin import alice_client  # noqa: F401  (the fixture, for skill tests)
from alice.tests import skills
from alice.tests.webhooks import ADAPTERS, Post

REPO_ROOT = Path(__file__).resolve().parents[2]
# The project's own Alice protocol samples: one request per file, "<number>_<case>.json".
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

ALL_SKILLS = [acquaintance.skill, guess_number.skill, pet_gift.skill, *skills.ALL]


def skip_unless_ci(reason: str) -> None:
    """Skip the test for *reason*; on CI (CI=true) fail instead: nothing may skip there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; with CI=true nothing may skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_stores():
    """
    Give every skill an empty in-memory session store, so that no test sees another's
    sessions, and skills created by a test too. Tests of the durable stores build their own.
    """
    for skill in ALL_SKILLS:
        skill.store = MemorySessionStore()
    factory = storage._default_factory
    storage.set_default_store(MemorySessionStore)
    yield
    storage.set_default_store(factory)


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    """Return a function reading a sample's bytes by its number, e.g. "02"."""

    def read(number: str) -> bytes:
        (path,) = SAMPLES_DIR.glob(f"{number}_*.json")
        return path.read_bytes()

    return read


@pytest.fixture
def fixture_json(fixture_bytes: Callable[[str], bytes]) -> Callable[[str], dict[str, Any]]:
    """Return a function parsing a sample by its number, a fresh copy each time."""

    def load(number: str) -> dict[str, Any]:
        return copy.deepcopy(json.loads(fixture_bytes(number)))

    return load


@pytest.fixture(params=["redis", "database"])
def backend(request, transactional_db):
    """
    Return a function making a new store (a "process") of one backend and namespace.

    The database is transactional (committed, then flushed) so that threads see its rows.
    """
    namespace = f"alice.tests.{uuid.uuid4().hex[:12]}"
    if request.param == "redis":
        if not settings.REDIS_URL:
            skip_unless_ci("REDIS_URL is not set")
        client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)

        def make(**options):
            return RedisSessionStore(
                client=client, key_prefix=settings.REDIS_KEY_PREFIX, namespace=namespace, **options
            )

        make.kind = "redis"
        yield make
        client.close()
    else:

        def make(**options):
            return DatabaseSessionStore(namespace=namespace, **options)

        make.kind = "database"
        yield make


def stored_sessions(store: SessionStore) -> int:
    """Return how many sessions of *store*'s namespace its backend holds."""
    if isinstance(store, RedisSessionStore):
        keys = store.client.scan_iter(match=f"{store.key_prefix}alice:{store.namespace}:*")
        return len({key.rsplit(":", 1)[0] for key in keys})  # a session's lock, meta, turns
    if isinstance(store, DatabaseSessionStore):
        return DialogSession.objects.filter(namespace=store.namespace).count()
    return len(store)  # type: ignore[arg-type]


@pytest.fixture(params=sorted(ADAPTERS))
def webhook(request) -> Post:
    """Return a function posting to a webhook path through one adapter: the Django view, or
    the WSGI router in front of Django; it returns the status and the JSON answer."""
    return ADAPTERS[request.param]
