"""The skills of this project a partner can run in-process (SKILLCHAT_MOUNTED_SKILLS)."""

import functools

from django.utils.module_loading import import_string

from alice.engine import Skill

from .conf import app_settings


def mounted_skill_names() -> list[str]:
    """The names an admin can choose for a mounted partner."""
    return sorted(app_settings.MOUNTED_SKILLS)


def mounted_skill(name: str) -> Skill | None:
    """Return the Skill called *name*, or None for a name no longer configured."""
    path = app_settings.MOUNTED_SKILLS.get(name)
    return None if path is None else _load(path)


@functools.cache
def _load(path: str) -> Skill:
    skill = import_string(path)
    if not isinstance(skill, Skill):
        raise TypeError(f"{path} is {skill!r}, not an alice.Skill")
    return skill
