"""
Settings for the privatemessages + alice site.

Everything is driven by environment variables with development defaults, so the
site runs with none set (SQLite, in-memory channel layer) and is production-safe
with them (see README, "Configuration").
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # daphne first: its runserver serves HTTP and WebSockets from one process.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "accounts",
    "timezones",
    "privatemessages",
    "alice",
    # Skills as chat partners (docs/skills-in-chat.md): after both, which it joins.
    "skillchat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session, before CommonMiddleware (whose redirects and 404s
    # then speak the chosen language). Django's LocaleMiddleware, skipping the
    # Alice webhooks.
    "myproject.page_locale.PageLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "timezones.middleware.TimezoneMiddleware",
    # Last, so that its process_exception is the first one asked.
    "myproject.overload.PoolExhaustedMiddleware",
]

ROOT_URLCONF = "myproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "privatemessages.context_processors.chat_user",
            ],
        },
    },
]

WSGI_APPLICATION = "myproject.wsgi.application"
ASGI_APPLICATION = "myproject.asgi.application"

# Database: DATABASE_URL, or a SQLite file beside manage.py.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if os.environ.get("DATABASE_TEST_NAME"):
    # Lets several test runs share one PostgreSQL server without colliding.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DATABASE_TEST_NAME"]}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the chat's readers and its one writer work at once.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;"
    )
elif (
    DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    and not DATABASES["default"]["CONN_MAX_AGE"]
    and env_bool("DATABASE_POOL", True)
):
    # Under ASGI each request runs in a thread of its own, so persistent
    # connections (CONN_MAX_AGE) would pile up, and without them every query
    # batch (each chat message) paid for a new PostgreSQL backend. psycopg's
    # pool keeps a few connections and lends them to whichever thread asks.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "10")),
        # How long a request waits for a connection when all are lent out.
        # Short: past it the request is answered 503 with Retry-After
        # (myproject.overload), which tells the client more than a page that
        # hangs, and frees its thread for the requests the pool can serve.
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "3")),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: optional. Unset means the in-memory channel layer and counters computed
# from the database; set means the Redis channel layer and Redis counters.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Prefix of every Redis key this site writes, so that several sites or test runs
# can share one Redis server.
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "")

# Channel layer: the chat's fan-out between server processes (docs/deploy.md).
# RedisPubSubChannelLayer was chosen by measurement (figures in bench/README.md,
# "Finished comparisons"): an order of magnitude less CPU per delivered message
# than RedisChannelLayer, one PUBLISH per group_send whatever the group's size, no
# per-channel capacity to overflow and no group membership kept in Redis to
# expire or be flushed. What it can lose (messages published while a
# process's subscription reconnects) the chat recovers from the database:
# every live message names its predecessor, a consumer that notices a gap
# replays it, and clients resync on every reconnect (docs/protocol.md).
# It has no capacity or expiry settings: each socket's queue is in process
# memory and drained as fast as the socket takes it.
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # An explicit pool size: redis-py's default cap refused new
                # connections when many sockets connected at once.
                "hosts": [{"address": REDIS_URL, "max_connections": 1000}],
                "prefix": f"{REDIS_KEY_PREFIX}asgi",
            },
        }
    }
else:
    # One process only. Its defaults (100 messages per channel, 60 s) would drop
    # events of a busy socket silently; these are sized for a burst of a chat.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 5000, "expiry": 60},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # Checks every username and password: throttled, and hashing without
    # holding a database connection (accounts/backends.py).
    "accounts.backends.ThrottledModelBackend",
    # Never asked about a password (the backend above answers for all of
    # them); listed so that sessions logged in through it stay valid.
    "django.contrib.auth.backends.ModelBackend",
]
# Password guesses (accounts/throttle.py): counted per (account, address) pair
# and per address, each up to its limit within LOGIN_THROTTLE_WINDOW seconds
# of the first; past either, log-in attempts are refused with 429 until the
# window ends. Never per account alone, so guessing at an account cannot keep
# its owner out from her own address.
LOGIN_THROTTLE_PAIR_LIMIT = int(os.environ.get("LOGIN_THROTTLE_PAIR_LIMIT", "5"))
LOGIN_THROTTLE_ADDRESS_LIMIT = int(os.environ.get("LOGIN_THROTTLE_ADDRESS_LIMIT", "20"))
LOGIN_THROTTLE_WINDOW = int(os.environ.get("LOGIN_THROTTLE_WINDOW", "300"))
# Proxies (addresses or networks) whose X-Forwarded-For is believed. Empty under
# deploy/cluster.py: its uvicorn already puts the client's address from nginx
# in REMOTE_ADDR.
LOGIN_THROTTLE_TRUSTED_PROXIES = env_list("LOGIN_THROTTLE_TRUSTED_PROXIES", "")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "privatemessages:thread_list"
LOGOUT_REDIRECT_URL = "login"

# Russian is the default and the source text (the msgids); English is a
# catalog in locale/en. The language comes from Django's language cookie (the
# header's switcher posts to set_language), else Accept-Language, else Russian
# (myproject.page_locale; its cost is in bench/README.md, "Pages and languages").
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# A year: the choice is a preference, not a session.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
# The zone used when the browser has not reported one (or reported a bad one).
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# privatemessages: every PRIVATEMESSAGES_* setting, its meaning and its default
# is in privatemessages/conf.py; this project takes any of them from the
# environment as well (README, "Configuration").
_PRIVATEMESSAGES_FROM_ENV = {
    "API_KEY": str,
    "WS_RATE": float,
    "WS_BURST": int,
    "USER_SEND_RATE": float,
    "USER_SEND_BURST": int,
    "USER_REPLAY_RATE": float,
    "USER_REPLAY_BURST": int,
    "USER_MAX_SOCKETS": int,
    "USER_SEARCH_RATE": float,
    "USER_SEARCH_BURST": int,
    "DB_THREADS": int,
    "KEEPALIVE_EVERY": float,
    "SAVE_ON_LOOP": lambda value: env_bool("PRIVATEMESSAGES_SAVE_ON_LOOP", True),
}
for _name, _cast in _PRIVATEMESSAGES_FROM_ENV.items():
    if os.environ.get(f"PRIVATEMESSAGES_{_name}"):
        globals()[f"PRIVATEMESSAGES_{_name}"] = _cast(os.environ[f"PRIVATEMESSAGES_{_name}"])

# alice
# Where dialogs are recorded so that any process can continue them (docs/alice.md): Redis
# when REDIS_URL is set, the database otherwise; "alice.engine.storage.MemorySessionStore"
# keeps them in one process's memory only. The one place this default is chosen: the store
# class reads its own options below (its from_settings()).
ALICE_SESSION_STORE = os.environ.get("ALICE_SESSION_STORE") or (
    "alice.engine.redis_store.RedisSessionStore"
    if REDIS_URL
    else "alice.db_store.DatabaseSessionStore"
)
# Seconds an idle dialog is kept (the Redis TTL, the database expiry).
ALICE_SESSION_IDLE_TIMEOUT = int(os.environ.get("ALICE_SESSION_IDLE_TIMEOUT", "1800"))
# Live generators kept per skill and process; a dialog evicted here is replayed.
ALICE_MAX_SESSIONS = int(os.environ.get("ALICE_MAX_SESSIONS", "10000"))
# Requests a dialog may take: a replay grows with them; past it the dialog ends politely.
ALICE_MAX_TURNS = int(os.environ.get("ALICE_MAX_TURNS", "200"))
# Bytes of recorded turns a dialog may reach, likewise: what one replay reads and runs.
ALICE_MAX_SESSION_BYTES = int(os.environ.get("ALICE_MAX_SESSION_BYTES", str(64 * 1024)))
# Bytes of a webhook request body; larger ones get 413.
ALICE_MAX_BODY_SIZE = int(os.environ.get("ALICE_MAX_BODY_SIZE", str(64 * 1024)))
# The skill id (Yandex Dialogs console) whose requests the webhooks answer, or several
# separated by commas; other requests get 403. Empty: any.
ALICE_SKILL_ID = os.environ.get("ALICE_SKILL_ID", "")
# Seconds a turn may take before the skill answers its deadline fallback (Dialogs waits
# 4.5 s, network included). Unset: the engine's default, held in alice.engine.deadline.
if os.environ.get("ALICE_DEADLINE"):
    ALICE_DEADLINE = float(os.environ["ALICE_DEADLINE"])

# Production hardening: on whenever DEBUG is off, so `check --deploy` is clean.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# One console handler, on the root logger, for everything (myproject/log_config.py):
# UTC times, and other libraries' records below WARNING dropped.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "myproject.log_config.UTCFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "filters": {"no_library_chatter": {"()": "myproject.log_config.LibraryChatterFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["no_library_chatter"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's defaults give these loggers console handlers of their own,
        # and their records also reach the root's: runserver printed each
        # request twice. Listed without handlers, they only reach the root's.
        "django": {"level": "INFO"},
        "django.server": {"level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}
