"""
The app's settings, each with its default, read in this one place: a project
sets ``SKILLCHAT_<NAME>``; read on every access, so tests can override them.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The skills of this project that a partner may run in-process: name -> the
    # dotted path of its alice.Skill. The admin offers these names.
    "MOUNTED_SKILLS": {
        "acquaintance": "alice.scripts.acquaintance.skill",
        "guess_number": "alice.scripts.guess_number.skill",
        "pet_gift": "alice.scripts.pet_gift.skill",
    },
    # Threads per process that ask skills (never the event loop); with the chat's
    # PRIVATEMESSAGES_DB_THREADS, below the database pool's size: each holds a
    # connection while its skill answers.
    "WORKERS": 4,
    # Seconds a process keeps its set of skill accounts before reading it again
    # (a change made in this process is seen at once).
    "PARTNERS_REFRESH": 5.0,
    # Seconds between the typing frames sent while a skill works (a browser shows
    # one for 8 s).
    "TYPING_INTERVAL": 3.0,
    # External webhooks: plain http:// allowed (else https only), and addresses of
    # this site's own networks (loopback, private, link-local, reserved) allowed.
    "ALLOW_HTTP_WEBHOOKS": False,
    "ALLOW_INTERNAL_WEBHOOKS": False,
    # The largest webhook answer read, in bytes.
    "WEBHOOK_MAX_BYTES": 64 * 1024,
}


class AppSettings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"No skillchat setting {name!r}")
        return getattr(settings, f"SKILLCHAT_{name}", DEFAULTS[name])


app_settings = AppSettings()
