"""
The app's settings, each with its default, read in this one place.

A project sets any of them in its settings as ``PRIVATEMESSAGES_<NAME>``;
what it leaves out takes the default below. Read on every access (not
copied at import), so that tests and ``override_settings`` take effect.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Key the JSON API (api.py) expects in X-Api-Key. Empty disables the API.
    "API_KEY": "",
    # The longest message, in characters, after trimming.
    "MAX_TEXT_LENGTH": 10_000,
    # Per WebSocket connection: WS_BURST frames at once, refilled at WS_RATE a second.
    "WS_RATE": 10.0,
    "WS_BURST": 20,
    # Per user, across sockets and processes (docs/protocol.md "Limits").
    "USER_SEND_RATE": 10.0,
    "USER_SEND_BURST": 40,
    "USER_REPLAY_RATE": 2000.0,
    "USER_REPLAY_BURST": 10_000,
    "USER_MAX_SOCKETS": 50,
    # Threads per process that run the sockets' database work.
    "DB_THREADS": 4,
}


class AppSettings:
    """``app_settings.X`` is ``settings.PRIVATEMESSAGES_X`` if set, else ``DEFAULTS["X"]``."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"No privatemessages setting {name!r}")
        return getattr(settings, f"PRIVATEMESSAGES_{name}", DEFAULTS[name])


app_settings = AppSettings()
