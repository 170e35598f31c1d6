"""Fixtures of the skillchat tests: skill partners, their threads, a run of the answers."""

import itertools

import pytest

from alice.apps import store_from_settings
from privatemessages import services as pm_services
from privatemessages.tests.conftest import (  # noqa: F401  (fixtures)
    anna,
    boris,
    carol,
    fast_password_hashing,
    make_client,
    make_user,
)
from skillchat import registry
from skillchat.models import SkillPartner

TEST_SKILLS = {
    "acquaintance": "alice.scripts.acquaintance.skill",
    "guess_number": "alice.scripts.guess_number.skill",
    "pet_gift": "alice.scripts.pet_gift.skill",
    "raising": "skillchat.tests.skills.raising",
    "slow": "skillchat.tests.skills.slow",
    "cards": "skillchat.tests.skills.cards",
    "thinking": "skillchat.tests.skills.thinking",
}

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def skill_settings(settings):
    settings.SKILLCHAT_MOUNTED_SKILLS = TEST_SKILLS
    # Tests turn this on for their local webhook server only (test_webhook.py).
    settings.SKILLCHAT_ALLOW_INTERNAL_WEBHOOKS = False


@pytest.fixture(autouse=True)
def fresh_dialog_stores(monkeypatch):
    """
    Each test's skills keep their dialogs in a store of their own, of the configured kind
    (database or Redis): a thread id reused by a later test starts a new dialog.
    """
    made = {}

    def mounted(name):
        if name not in made:
            path = TEST_SKILLS.get(name)
            if path is None:
                return None
            skill = registry._load(path)
            made[name] = skill.using(store_from_settings(namespace=f"{skill.name}-{id(made)}"))
        return made[name]

    monkeypatch.setattr(registry, "mounted_skill", mounted)
    monkeypatch.setattr("skillchat.runner.mounted_skill", mounted)


@pytest.fixture
def inline(settings):
    """Answer in the thread that commits the message (no worker pool)."""
    settings.SKILLCHAT_WORKERS = 0


@pytest.fixture
def make_skill(db, django_user_model):
    """``make_skill("guess_number")``: a mounted skill partner; ``kind="webhook", url=...``."""

    def make(skill: str = "acquaintance", *, kind=SkillPartner.MOUNTED, url="", **extra):
        user = django_user_model.objects.create_user(username=f"skill-{skill}-{next(_names)}")
        return SkillPartner.objects.create(
            user=user,
            title=f"Навык {skill}",
            kind=kind,
            mounted_skill=skill if kind == SkillPartner.MOUNTED else "",
            webhook_url=url,
            **extra,
        )

    return make


@pytest.fixture
def talk(django_capture_on_commit_callbacks):
    """
    ``talk(user, partner_user, "text")``: send a message as a committed write would (the
    hook runs after commit), and return the thread's messages after it.
    """

    def send(user, other, text):
        with django_capture_on_commit_callbacks(execute=True):
            message = pm_services.message_send_to_user(sender=user, recipient=other, text=text)
        return message

    return send
