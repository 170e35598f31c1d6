from django.apps import AppConfig
from django.conf import settings
from django.utils.module_loading import import_string

from alice.engine.storage import SessionStore, set_default_store


class AliceConfig(AppConfig):
    name = "alice"
    verbose_name = "Навыки Алисы"

    def ready(self) -> None:
        # Skills are created at import time by scripts that know nothing of settings: tell
        # the engine how to build their stores once settings are ready.
        set_default_store(store_from_settings)


def store_from_settings(*, namespace: str) -> SessionStore:
    """Return the session store the settings ask for, for the skill called *namespace*."""
    backend = import_string(
        getattr(settings, "ALICE_SESSION_STORE", "alice.engine.storage.MemorySessionStore")
    )
    return backend(
        namespace=namespace,
        idle_timeout=getattr(settings, "ALICE_SESSION_IDLE_TIMEOUT", 30 * 60),
        max_sessions=getattr(settings, "ALICE_MAX_SESSIONS", 10_000),
    )
