"""Delete the Alice dialogs idle past their expiry from the database store (run from cron)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from alice.db_store import clear_expired


class Command(BaseCommand):
    help = (
        "Delete the Alice dialogs (DialogSession rows and their turns) idle longer than "
        "ALICE_SESSION_IDLE_TIMEOUT. Only the database store needs it: Redis expires keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default", help="the database alias")

    def handle(self, *args: Any, database: str, **options: Any) -> None:
        count = clear_expired(using=database)
        self.stdout.write(f"Deleted {count} expired dialog(s).")
