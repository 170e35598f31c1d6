"""Fixtures of the alice tests: the shared protocol samples and fresh session stores."""

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alice.engine import MemorySessionStore, storage
from alice.scripts import acquaintance, guess_number, pet_gift
from alice.tests import skills

REPO_ROOT = Path(__file__).resolve().parents[2]
# CI clones the repository beside `shared/`; ALICE_FIXTURES_DIR overrides for other layouts.
FIXTURES_DIR = Path(
    os.environ.get("ALICE_FIXTURES_DIR") or REPO_ROOT.parent / "shared" / "alice-fixtures"
)

ALL_SKILLS = [acquaintance.skill, guess_number.skill, pet_gift.skill, *skills.ALL]


def skip_unless_ci(reason: str) -> None:
    """Skip the test for *reason*; on CI (CI=true) fail instead: nothing may skip there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; with CI=true nothing may skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fresh_stores():
    """
    Give every skill an empty in-memory session store, so that no test sees another's
    sessions, and skills created by a test too. Tests of the durable stores build their own.
    """
    for skill in ALL_SKILLS:
        skill.store = MemorySessionStore()
    factory = storage._default_factory
    storage.set_default_store(MemorySessionStore)
    yield
    storage.set_default_store(factory)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Return the directory of the shared protocol samples; fail loudly when it is missing."""
    if not (FIXTURES_DIR / "01_new_session_start.json").is_file():
        pytest.fail(
            f"The Alice protocol samples are missing: expected them in {FIXTURES_DIR} "
            "(the `shared/alice-fixtures` directory beside the repository clone), or set "
            "ALICE_FIXTURES_DIR.",
            pytrace=False,
        )
    return FIXTURES_DIR


@pytest.fixture
def fixture_bytes(fixtures_dir: Path) -> Callable[[str], bytes]:
    """Return a function reading a sample's bytes by its number, e.g. "02"."""

    def read(number: str) -> bytes:
        (path,) = fixtures_dir.glob(f"{number}_*.json")
        return path.read_bytes()

    return read


@pytest.fixture
def fixture_json(fixture_bytes: Callable[[str], bytes]) -> Callable[[str], dict[str, Any]]:
    """Return a function parsing a sample by its number, a fresh copy each time."""

    def load(number: str) -> dict[str, Any]:
        return copy.deepcopy(json.loads(fixture_bytes(number)))

    return load
