from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from skillchat.models import SkillPartner

# username -> (mounted skill, title, description): the three shipped scripts.
DEMO_SKILLS = {
    "acquaintance": (
        "acquaintance",
        "Знакомство",
        "Пример из README alice_scripts: спросит имя и возраст и пообещает питомца.",
    ),
    "guess_number": (
        "guess_number",
        "Угадай число",
        "Загадайте число от 1 до 100: навык отгадает его вопросами «да» / «нет».",
    ),
    "pet_gift": (
        "pet_gift",
        "Подарок питомца",
        "Знакомство с кнопками: имя, возраст и выбор между кошками и собаками.",
    ),
}


class Command(BaseCommand):
    help = (
        "Link the three shipped Alice scripts as skill partners of the chat (users "
        f"{', '.join(DEMO_SKILLS)}, who cannot log in). Running it again changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Also run with DEBUG off (a demo site)."
        )

    def handle(self, *args, force: bool = False, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: use --force if this really is a demo site.")
        User = get_user_model()
        for username, (skill, title, description) in DEMO_SKILLS.items():
            with transaction.atomic():
                user, created = User.objects.get_or_create(**{User.USERNAME_FIELD: username})
                if created:
                    user.set_unusable_password()
                    user.save(update_fields=["password"])
                partner, made = SkillPartner.objects.get_or_create(
                    user=user,
                    defaults={
                        "title": title,
                        "description": description,
                        "kind": SkillPartner.MOUNTED,
                        "mounted_skill": skill,
                    },
                )
            state = "linked" if made else "already linked"
            self.stdout.write(f"Skill partner {username} ({partner.title}): {state}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Write to {', '.join(DEMO_SKILLS)} at /messages/ to talk to the skills."
            )
        )
