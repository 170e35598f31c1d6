from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_USERNAMES = ("anna", "boris")
DEMO_PASSWORD = "demo-password-123"


class Command(BaseCommand):
    help = (
        f"Create the demo users {' and '.join(DEMO_USERNAMES)} (password {DEMO_PASSWORD!r}). "
        "Running it again changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Also run with DEBUG off (users with a published password!).",
        )

    def handle(self, *args, force: bool = False, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: demo users with a published password would be a way in. "
                "Use --force if this really is a demo site."
            )
        User = get_user_model()
        for username in DEMO_USERNAMES:
            user, created = User.objects.get_or_create(**{User.USERNAME_FIELD: username})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                self.stdout.write(f"Created user {username}.")
            elif not user.check_password(DEMO_PASSWORD):
                self.stdout.write(
                    self.style.WARNING(
                        f"User {username} exists with another password; left unchanged."
                    )
                )
            else:
                self.stdout.write(f"User {username} already exists.")
        names = " / ".join(DEMO_USERNAMES)
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in at /accounts/login/ as {names}, password {DEMO_PASSWORD}; "
                "open the site in two browsers (or a private window) to chat."
            )
        )
