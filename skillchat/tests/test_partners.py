"""The set of skill accounts, asked on the event loop (a socket's message saved there)."""

import asyncio
import time

import pytest

from skillchat.partners import directory


async def asked_on_the_loop() -> frozenset[int]:
    return directory.bot_user_ids()


@pytest.mark.django_db(transaction=True)
def test_a_stale_set_asked_on_the_event_loop_is_read_again_in_a_thread(make_skill, caplog):
    skill = make_skill("acquaintance")
    directory.invalidate()
    # No query on the loop (it would raise there): the set as known, read again meanwhile.
    assert skill.user_id not in asyncio.run(asked_on_the_loop())
    deadline = time.monotonic() + 10
    while skill.user_id not in asyncio.run(asked_on_the_loop()):
        assert time.monotonic() < deadline, "the set was not read again"
        time.sleep(0.02)
    assert "Could not read the skill partners" not in caplog.text
