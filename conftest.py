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
