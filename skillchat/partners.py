"""
Which accounts are skills: the set every message's hook checks, kept per process and
read again at most every SKILLCHAT_PARTNERS_REFRESH seconds (at once after a change made
in this process), so that people's messages cost no query. It is also the directory
privatemessages asks for its pages (privatemessages.bots): the skills listed on /messages/
come with the same read.
"""

import asyncio
import logging
import threading
import time

from django.contrib.auth import get_user_model
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, connection
from django.urls import reverse

from .conf import app_settings
from .models import SkillPartner

logger = logging.getLogger(__name__)


class PartnerDirectory:
    """privatemessages.bots.BotDirectory for skill partners."""

    def __init__(self) -> None:
        self._ids: frozenset[int] = frozenset()
        self._listed: list[dict] = []
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._refresh_started = threading.Lock()

    def bot_user_ids(self) -> frozenset[int]:
        if time.monotonic() - self._read_at > app_settings.PARTNERS_REFRESH:
            if _on_event_loop():
                # A message saved on the event loop (privatemessages.loop_db)
                # must not wait for a query there: the set as known, read
                # again in a thread for the next message.
                self._refresh_in_thread()
            else:
                self._refresh()
        return self._ids

    def _refresh_in_thread(self) -> None:
        # Not self._lock, which a refresh holds through its query.
        if not self._refresh_started.acquire(blocking=False):
            return  # one is on its way

        def refresh() -> None:
            try:
                self._refresh()
            finally:
                connection.close()
                self._refresh_started.release()

        threading.Thread(target=refresh, name="skillchat-partners", daemon=True).start()

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._read_at <= app_settings.PARTNERS_REFRESH:
                return  # another thread just read it
            username = f"user__{get_user_model().USERNAME_FIELD}"
            try:
                rows = list(
                    SkillPartner.objects.order_by("title").values_list(
                        "user_id", username, "title", "description", "enabled", "user__is_active"
                    )
                )
            except (DatabaseError, SynchronousOnlyOperation):
                # Keep what was known; ask again on the next message.
                logger.warning("Could not read the skill partners", exc_info=True)
                return
            # Disabled skills too: their threads still show what they are.
            self._ids = frozenset(row[0] for row in rows)
            self._listed = [
                {"username": name, "title": title, "description": description}
                for _, name, title, description, enabled, active in rows
                if enabled and active
            ]
            self._read_at = time.monotonic()

    def invalidate(self, **kwargs) -> None:
        """Read the set again when next asked (a partner was saved or deleted here)."""
        self._read_at = float("-inf")

    def restart_url(self, thread_id: int) -> str | None:
        return reverse("skillchat:restart", kwargs={"thread_id": thread_id})

    def listed_bots(self) -> list[dict]:
        self.bot_user_ids()  # read with the set, as fresh
        return self._listed


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


directory = PartnerDirectory()
