"""Fixtures shared by every app's tests."""

import uuid

import pytest
from django.conf import settings


@pytest.fixture(autouse=True, scope="session")
def isolated_redis_keys():
    """
    Give this test run its own Redis key prefix (counters, channel layer, alice
    sessions), and delete only those keys afterwards: the Redis server may be
    shared with other runs and must not be assumed empty.
    """
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    settings.REDIS_KEY_PREFIX = prefix
    layer = settings.CHANNEL_LAYERS["default"]
    if "prefix" in layer.get("CONFIG", {}):
        layer["CONFIG"]["prefix"] = f"{prefix}asgi"
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield prefix
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()


@pytest.fixture(autouse=True, scope="session")
def keepalive_by_hand():
    """
    No keepalive visits on their own in this process: a frame they sent would
    land among the frames a test expects. The tests of the keepalive run its
    rounds by hand (KeepaliveRounds.visit_all); the server processes the
    end-to-end tests start keep the default.
    """
    settings.PRIVATEMESSAGES_KEEPALIVE_EVERY = 0


@pytest.fixture(autouse=True, scope="session")
def messages_saved_in_threads():
    """
    Sockets in this process save messages in database threads, as on SQLite:
    on the loop (loop_db.py) each test's event loop would leave a connection
    pool behind. The server processes of the end-to-end tests keep the
    default and save on their loops; test_message_on_loop.py tests that path
    in this process, closing each pool it opens.
    """
    settings.PRIVATEMESSAGES_SAVE_ON_LOOP = False


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """
    Put a SQLite test database in a file rather than in memory, so that the
    server processes of the end-to-end tests can share it on the embedded
    defaults too (a browser test then needs neither PostgreSQL nor Redis).
    """
    database = settings.DATABASES["default"]
    pool = database.get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict):
        # The site answers 503 after a short wait for a pooled connection; the
        # tests' own threads, on a machine loaded by their server processes,
        # may wait longer without that meaning anything.
        pool["timeout"] = max(pool.get("timeout", 0), 10)
        # Socket tests end while a consumer's database work may still hold a
        # connection until its thread is collected; room for those.
        pool["max_size"] = max(pool.get("max_size", 0), 30)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        test = database.setdefault("TEST", {})
        if not test.get("NAME"):
            test["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """
    Let the test database be dropped at the end: close the PostgreSQL pools and
    end connections that threads of this run left checked out of them.
    """
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connection.close()
            if connection.pool is not None:
                connection.close_pool()


@pytest.fixture(autouse=True)
def fresh_skill_partner_directory(settings):
    """
    Read the process's set of skill accounts once per test: a test's rolled-back partners
    send no signal (on SQLite their ids go to the next test's users), and a refresh in the
    middle of a test would add a query to what it counts.
    """
    from skillchat.partners import directory

    settings.SKILLCHAT_PARTNERS_REFRESH = 10**9
    directory.invalidate()
    yield
    directory.invalidate()
