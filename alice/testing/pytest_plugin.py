"""
A pytest fixture for a skill's own tests: ``alice_client``. Put in the conftest.py beside
them::

    from alice.testing.pytest_plugin import alice_client  # noqa: F401  (the fixture)

or run pytest with ``-p alice.testing.pytest_plugin``. The tests then need no database and
no Redis: each client records its dialog in memory and replays it on every request.
"""

from collections.abc import Callable
from typing import Any

import pytest

from alice.engine import Skill

from .client import DialogClient

__all__ = ["alice_client"]


@pytest.fixture
def alice_client() -> Callable[..., DialogClient]:
    """
    Return a function making a DialogClient of a skill (a Skill, or a module name for
    load_skill()) with ``replay=True`` unless told otherwise; other keyword arguments go to
    DialogClient (``access_token=``, ``meta=``, ``state=``, ``location=``...).
    """

    def make(skill: Skill | str, **options: Any) -> DialogClient:
        options.setdefault("replay", True)
        return DialogClient(skill, **options)

    return make
