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
    # Per user, across all of the user's sockets and server processes (Redis when
    # REDIS_URL is set, process memory otherwise; docs/protocol.md "Limits").
    # Messages: None means as fast as one connection may (WS_RATE), so that more
    # sockets add nothing, with a burst of 2 × WS_BURST for a couple of tabs
    # resending their unsent messages at once.
    "USER_SEND_RATE": None,
    "USER_SEND_BURST": None,
    # Messages replayed by "sync", per second and at once: a reconnect of
    # several tabs fits in the burst; a storm of catch-ups is paced.
    "USER_REPLAY_RATE": 2000.0,
    "USER_REPLAY_BURST": 10_000,
    # Username suggestions (GET /messages/users/): lookups per second, and at once.
    "USER_SEARCH_RATE": 2.0,
    "USER_SEARCH_BURST": 10,
    # Sockets (chat pages and thread lists) one user may have open at once.
    "USER_MAX_SOCKETS": 50,
    # Seconds between the server's keepalive visits of each open socket
    # (keepalive.py): the client takes a connection that is silent for two of
    # them for dead. 0 turns the visits off (the tests run them by hand).
    "KEEPALIVE_EVERY": 25.0,
    # Threads per process that run the sockets' database work (saving and
    # replaying messages) side by side; keep it below the database pool's size.
    "DB_THREADS": 4,
    # Sockets save people's messages from the event loop, on connections of its
    # own (as many as DB_THREADS), where the database is PostgreSQL
    # (loop_db.py); off: in the database threads, as on SQLite.
    "SAVE_ON_LOOP": True,
}

# Defaults that follow another setting.
_DERIVED = {
    "USER_SEND_RATE": lambda s: s.WS_RATE,
    "USER_SEND_BURST": lambda s: 2 * s.WS_BURST,
}


class AppSettings:
    """``app_settings.X`` is ``settings.PRIVATEMESSAGES_X`` if set, else ``DEFAULTS["X"]``."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"No privatemessages setting {name!r}")
        value = getattr(settings, f"PRIVATEMESSAGES_{name}", DEFAULTS[name])
        if value is None and name in _DERIVED:
            return _DERIVED[name](self)
        return value


app_settings = AppSettings()
