"""How the site's log lines look and which reach the console (settings.LOGGING).

One line per event, times in UTC whatever the site's zone (Django sets the
process's zone to TIME_ZONE, which log lines used to follow), and libraries
kept quiet: their records below WARNING are dropped from the console, so a
dependency's start-up notes (pymorphy's "Loading dictionaries…") do not land in
the middle of `runserver` or `alice_chat` output.
"""

import logging
import time
from pathlib import Path

_BASE_DIR = Path(__file__).resolve().parent.parent

# The project's own top-level packages (accounts, privatemessages, alice, …),
# found rather than listed so that a new app's loggers are heard at once.
# "django" is here for the request lines of runserver (django.channels.server,
# django.server) and Django's own request errors.
OWN_LOGGERS = frozenset(
    {"django", "__main__"}
    | {path.name for path in _BASE_DIR.iterdir() if (path / "__init__.py").is_file()}
)


class UTCFormatter(logging.Formatter):
    """Times in UTC, ISO 8601 with a "Z", to the millisecond."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class LibraryChatterFilter(logging.Filter):
    """Pass the project's records, and other loggers' from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return record.name.partition(".")[0] in OWN_LOGGERS
