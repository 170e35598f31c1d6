"""The one place that opens connections to Redis for the site's own keys."""

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis | None:
    """Return a shared client for settings.REDIS_URL, or None when Redis is off."""
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def redis_key(name: str) -> str:
    """Return the site's key for *name*, with REDIS_KEY_PREFIX applied."""
    return f"{settings.REDIS_KEY_PREFIX}{name}"
