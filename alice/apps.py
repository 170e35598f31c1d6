from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from alice.engine.durable import DurableSessionStore
from alice.engine.storage import SessionStore, set_default_store


class AliceConfig(AppConfig):
    name = "alice"
    verbose_name = "Навыки Алисы"

    def ready(self) -> None:
        # Skills are created at import time by scripts that know nothing of settings: tell
        # the engine how to build their stores once settings are ready.
        set_default_store(store_from_settings)


def default_store_path() -> str:
    """Return the default store: Redis when REDIS_URL is set, the database otherwise."""
    if settings.REDIS_URL:
        return "alice.engine.redis_store.RedisSessionStore"
    return "alice.db_store.DatabaseSessionStore"


def store_from_settings(*, namespace: str) -> SessionStore:
    """Return the session store the settings ask for, for the skill called *namespace*."""
    backend = import_string(settings.ALICE_SESSION_STORE or default_store_path())
    options: dict[str, Any] = {
        "namespace": namespace,
        "idle_timeout": settings.ALICE_SESSION_IDLE_TIMEOUT,
        "max_sessions": settings.ALICE_MAX_SESSIONS,
        "max_turns": settings.ALICE_MAX_TURNS,
    }
    if issubclass(backend, DurableSessionStore):  # the stores that record turns
        options["max_session_bytes"] = settings.ALICE_MAX_SESSION_BYTES
    from alice.engine.redis_store import RedisSessionStore

    if issubclass(backend, RedisSessionStore):
        from myproject.redis import get_redis, redis_key

        client = get_redis()
        if client is None:
            raise ImproperlyConfigured(f"ALICE_SESSION_STORE is {backend.__name__}: set REDIS_URL")
        options.update(client=client, key_prefix=redis_key(""))
    return backend(**options)
