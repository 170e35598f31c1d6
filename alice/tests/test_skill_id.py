"""ALICE_SKILL_ID: the webhooks answer the requests of the site's own skill only."""

import pytest
from django.test.utils import override_settings

from alice.scripts import acquaintance

from .conftest import stored_sessions
from .test_validation import encoded

FORBIDDEN = {"error": "the request is for another skill: session.skill_id differs"}


@pytest.fixture
def ours(fixture_json):
    """Return a function giving a sample as sent for the skill id *skill_id*."""

    def sample(number: str, skill_id: str | None) -> bytes:
        data = fixture_json(number)
        if skill_id is None:
            del data["session"]["skill_id"]
        else:
            data["session"]["skill_id"] = skill_id
        return encoded(data)

    return sample


@pytest.mark.parametrize("skill_id", ["someone-elses-skill", "", None])
@override_settings(ALICE_SKILL_ID="our-skill")
def test_a_request_for_another_skill_is_403_and_stores_nothing(backend, webhook, ours, skill_id):
    """With ALICE_SKILL_ID set, a request whose session.skill_id differs (or is missing) is
    refused with 403 and a JSON error, and no session is stored for it."""
    acquaintance.skill.store = backend()
    for number in ("01", "02", "06"):  # a new session, a later turn, a ping
        assert webhook("/alice/", ours(number, skill_id)) == (403, FORBIDDEN)
    assert stored_sessions(acquaintance.skill.store) == 0


@override_settings(ALICE_SKILL_ID="our-skill")
def test_a_request_for_our_skill_is_answered(backend, webhook, ours):
    """The skill's own requests are answered and their dialog stored as ever."""
    acquaintance.skill.store = backend()
    status, answer = webhook("/alice/", ours("01", "our-skill"))
    assert status == 200
    assert answer["response"]["text"] == "Добрый день! Как вас зовут?"
    assert stored_sessions(acquaintance.skill.store) == 1


@override_settings(ALICE_SKILL_ID=" first-skill, second-skill ")
def test_several_skill_ids_are_separated_by_commas(webhook, ours):
    """A site serving several skills lists their ids, separated by commas."""
    assert webhook("/alice/", ours("01", "second-skill"))[0] == 200
    assert webhook("/alice/", ours("01", "first-skill"))[0] == 200
    assert webhook("/alice/", ours("01", "third-skill")) == (403, FORBIDDEN)


@override_settings(ALICE_SKILL_ID="our-skill")
def test_a_malformed_request_is_still_a_400(webhook, ours, fixture_bytes):
    """The skill id is checked on a protocol request: a body that is not one stays a 400."""
    assert webhook("/alice/", fixture_bytes("09"))[0] == 400


def test_without_the_setting_any_skill_id_is_answered(webhook, ours):
    """ALICE_SKILL_ID empty (the default) accepts every request."""
    assert webhook("/alice/", ours("01", "anything"))[0] == 200
    assert webhook("/alice/", ours("01", None))[0] == 200
