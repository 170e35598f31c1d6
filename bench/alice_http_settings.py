"""
Settings of the Django servers bench/alice_http.py starts besides the project's own.

The project's settings, plus a trivial JSON endpoint (bench/alice_http_urls.py) served
through the same middleware as the webhook. ``BENCH_ALICE_MIDDLEWARE`` swaps the middleware
list for one of the candidates below, to measure what each would give; the project's own
settings are never changed.
"""

import os

from myproject.settings import *  # noqa: F403
from myproject.settings import MIDDLEWARE as PROJECT_MIDDLEWARE

ROOT_URLCONF = "bench.alice_http_urls"

# What the webhook does not need: it keeps no cookie session, logs nobody in, shows no
# messages, renders nothing in a language or time zone.
SITE_ONLY = {
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "privatemessages.middleware.TimezoneMiddleware",
}

MIDDLEWARE_CANDIDATES = {
    # As deployed: the ten middlewares of myproject.settings.
    "project": PROJECT_MIDDLEWARE,
    # Without the five the webhook never uses.
    "nosite": [name for name in PROJECT_MIDDLEWARE if name not in SITE_ONLY],
    # HTTPS redirect, HSTS and nosniff headers, APPEND_SLASH, Content-Length.
    "lean": [
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    "none": [],
}

MIDDLEWARE = MIDDLEWARE_CANDIDATES[os.environ.get("BENCH_ALICE_MIDDLEWARE", "project")]
