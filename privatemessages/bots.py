"""
Generic support for bot partners: accounts whose messages another app writes
(skillchat's skills). This app knows nothing of what a bot runs; the other app

- connects to ``message_committed``, sent after every message's commit, in the
  same on_commit as its broadcast (``message``: the saved Message, ``participants``:
  user id -> username), to answer it. A socket's message in a thread without a bot
  may be saved on the event loop (loop_db.py), and its signal is sent there: a
  receiver returns at once for a thread without its bot, and does its work (a query,
  a call) elsewhere;
- registers a ``BotDirectory`` (set_directory) that says which accounts are
  bots, for the pages (the mark, the restart action, the list of bots).

With neither, nothing changes: no bot is known, no receiver runs.
"""

from typing import Protocol

from django.dispatch import Signal

# Sent with sender=Message, message=<the saved Message>, participants=<id -> username>.
message_committed = Signal()


class BotDirectory(Protocol):
    def bot_user_ids(self) -> frozenset[int]:
        """The ids of the bots' accounts (cached by the implementation: asked per message)."""
        ...

    def restart_url(self, thread_id: int) -> str | None:
        """Where a participant posts to restart the bot's conversation in the thread."""
        ...

    def listed_bots(self) -> list[dict]:
        """The bots a user can write to: ``{"username", "title", "description"}`` each."""
        ...


class _NoBots:
    def bot_user_ids(self) -> frozenset[int]:
        return frozenset()

    def restart_url(self, thread_id: int) -> str | None:
        return None

    def listed_bots(self) -> list[dict]:
        return []


_directory: BotDirectory = _NoBots()


def set_directory(directory: BotDirectory | None) -> None:
    """Register the app that knows the bots (None: no bots)."""
    global _directory
    _directory = directory if directory is not None else _NoBots()


def directory() -> BotDirectory:
    return _directory


def is_bot(user_id: int | None) -> bool:
    """Whether *user_id* is a bot's account."""
    return user_id is not None and user_id in _directory.bot_user_ids()


def bot_among(user_ids) -> int | None:
    """The id of a bot among *user_ids*, or None: one set lookup per id."""
    bots = _directory.bot_user_ids()
    if not bots:
        return None
    return next((user_id for user_id in user_ids if user_id in bots), None)
