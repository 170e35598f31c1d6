from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from alice.engine import morphology
from alice.engine.deadline import DEFAULT_DEADLINE, set_default_deadline
from alice.engine.storage import SessionStore, set_default_store


class AliceConfig(AppConfig):
    name = "alice"
    verbose_name = _("Навыки Алисы")

    def ready(self) -> None:
        # Skills are created at import time by scripts that know nothing of settings: tell
        # the engine how to build their stores once settings are ready.
        set_default_store(store_from_settings)
        set_default_deadline(deadline_from_settings(settings))
        # Load the dictionaries at start, not in the first user's request (nor in each
        # worker a server forks after loading the app).
        morphology.warm_up()


def store_from_settings(*, namespace: str, **options: Any) -> SessionStore:
    """
    Return the store ALICE_SESSION_STORE names, for the skill called *namespace*; it reads
    its options from the settings (*options* override them).
    """
    # Imported when first used, as Django's cache backends: the backend's module may need
    # the settings (the database store, its models).
    backend = import_string(settings.ALICE_SESSION_STORE)
    try:
        return backend.from_settings(settings, namespace=namespace, **options)
    except ValueError as exc:
        raise ImproperlyConfigured(f"ALICE_SESSION_STORE is {backend.__name__}: {exc}") from exc


def deadline_from_settings(settings: Any) -> float:
    """Return ALICE_DEADLINE, the seconds a turn may take; the engine holds the default."""
    return float(getattr(settings, "ALICE_DEADLINE", DEFAULT_DEADLINE))
