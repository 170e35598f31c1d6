"""Delete the Alice dialogs idle past their expiry from the configured store (run from cron)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from alice.apps import store_from_settings


class Command(BaseCommand):
    help = (
        "Delete the Alice dialogs idle longer than ALICE_SESSION_IDLE_TIMEOUT from the store "
        "ALICE_SESSION_STORE names. Nothing to do for a store that expires them itself "
        "(Redis, memory)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database", help="the database alias, for the database store (default: default)"
        )

    def handle(self, *args: Any, database: str | None, **options: Any) -> None:
        store = store_from_settings(
            namespace="", **({} if database is None else {"using": database})
        )
        count = store.clear_expired()
        self.stdout.write(f"Deleted {count} expired dialog(s).")
