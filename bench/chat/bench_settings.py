"""
The project's settings as deployed (DEBUG off, PostgreSQL, Redis), with only what a benchmark
must change. Used by the bench's server processes and fixtures.
"""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")  # plain HTTP on loopback
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The per-connection frame limit would cap the ladder: the bench measures the server, not the
# limiter. Likewise the per-user limits: the delivery workload opens a thousand tabs for two
# users, and the send limit follows the per-connection one.
os.environ.setdefault("PRIVATEMESSAGES_WS_RATE", "1000")
os.environ.setdefault("PRIVATEMESSAGES_WS_BURST", "1000")
os.environ.setdefault("PRIVATEMESSAGES_USER_MAX_SOCKETS", "100000")
os.environ.setdefault("PRIVATEMESSAGES_USER_REPLAY_BURST", "10000000")

from myproject.settings import *  # noqa: F403
from myproject.settings import STORAGES

# The deployed manifest storage needs `collectstatic`; page timings do not depend on how
# static URLs are spelled.
STATIC_BACKEND = "django.contrib.staticfiles.storage.StaticFilesStorage"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": STATIC_BACKEND}}
