"""Minimal settings of the tutorial-style peer: sessions and users, nothing else."""

import os

import dj_database_url

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.chat.peer.settings"  # no URLs: urlpatterns below
ASGI_APPLICATION = "bench.chat.peer.asgi.application"

# The bench database, for the session and user lookups of AuthMiddlewareStack.
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The tutorial's layer: RedisChannelLayer with its defaults (capacity 100,
# expiry 60 s, a 100-connection pool), under this run's key prefix, and the one
# change redis-py 8 forces on it: redis-py 8 reads with a 5 s socket timeout by
# default, the layer's BZPOPMIN blocks for 5 s, and a consumer whose read times
# out first dies (django/channels_redis#422, redis/redis-py#4091).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": None}],
            "prefix": f"{os.environ.get('REDIS_KEY_PREFIX', '')}peer",
        },
    }
}

USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
urlpatterns: list = []
