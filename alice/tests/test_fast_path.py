"""
The fast path of the Redis store: a turn on a generator this process holds costs one round
trip, and a generator that another process moved past is never answered from.
"""

import uuid
from collections import Counter

import pytest
import redis
from django.conf import settings

from alice import Skill, recorded, request, say
from alice.engine import redis_store
from alice.engine.redis_store import RedisSessionStore
from alice.tests import skills

from .conftest import skip_unless_ci
from .test_engine import request_for, text_of


@pytest.fixture(params=[False, True], ids=["bytes", "decoded"])
def make_process(request):
    """Return a function making a store of one namespace (a "process"), and count scripts."""
    if not settings.REDIS_URL:
        skip_unless_ci("REDIS_URL is not set")
    # Either kind of client: the store reads its replies as bytes or as str alike.
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=request.param)
    namespace = f"alice.tests.fast.{uuid.uuid4().hex[:12]}"

    def make(**options) -> RedisSessionStore:
        return RedisSessionStore(
            client=client, key_prefix=settings.REDIS_KEY_PREFIX, namespace=namespace, **options
        )

    yield make
    for key in client.scan_iter(f"{settings.REDIS_KEY_PREFIX}alice:{namespace}:*"):
        client.delete(key)
    client.close()


@pytest.fixture
def scripts(monkeypatch) -> Counter:
    """Count the Lua scripts the stores run, by name."""
    calls: Counter = Counter()
    for name in ("_acquire", "_commit", "_commit_if_current", "_release"):
        script = getattr(redis_store, name)

        def counted(*args, _script=script, _name=name):
            calls[_name] += 1
            return _script(*args)

        monkeypatch.setattr(redis_store, name, counted)
    return calls


def test_a_turn_on_a_held_generator_is_one_round_trip(make_process, scripts):
    """The first turn only writes (it reads nothing stored); so do the next ones."""
    skill = skills.counter.using(make_process())
    session_id = str(uuid.uuid4())
    assert text_of(skill.handle(request_for(session_id, 0, new=True))) == "1"
    assert scripts == {"_commit_if_current": 1}
    scripts.clear()
    for message_id in range(1, 6):
        assert text_of(skill.handle(request_for(session_id, message_id, "x"))) == str(
            message_id + 1
        )
    assert scripts == {"_commit_if_current": 5}


def test_a_generator_moved_past_elsewhere_is_not_answered_from(make_process, scripts):
    """The write finds the dialog moved on, takes the lock, and the turn is replayed."""
    a, b = (skills.counter.using(make_process()) for _ in range(2))
    session_id = str(uuid.uuid4())
    assert text_of(a.handle(request_for(session_id, 0, new=True))) == "1"
    assert text_of(a.handle(request_for(session_id, 1, "x"))) == "2"
    assert text_of(b.handle(request_for(session_id, 2, "x"))) == "3"
    scripts.clear()
    assert text_of(a.handle(request_for(session_id, 3, "x"))) == "4"  # not "3"
    # One attempt on the stale generator (which took the lock), then the write.
    assert scripts == {"_commit_if_current": 1, "_commit": 1}
    scripts.clear()
    assert text_of(a.handle(request_for(session_id, 4, "x"))) == "5"
    assert scripts == {"_commit_if_current": 1}  # a's generator is current again
    # And b's, now behind, is not used either.
    assert text_of(b.handle(request_for(session_id, 5, "x"))) == "6"


def test_a_retry_of_a_turn_served_elsewhere_gets_its_answer(make_process):
    """A retry reaching a process whose generator is behind gets the recorded answer."""
    a, b = (skills.counter.using(make_process()) for _ in range(2))
    session_id = str(uuid.uuid4())
    a.handle(request_for(session_id, 0, new=True))
    a.handle(request_for(session_id, 1, "x"))
    answered = b.handle(request_for(session_id, 2, "x"))
    assert a.handle(request_for(session_id, 2, "x")) == answered
    assert text_of(b.handle(request_for(session_id, 3, "x"))) == "4"  # advanced once


outside_calls: list[tuple[str, int]] = []
with_outside_value = Skill("alice.tests.fast.outside")


@with_outside_value.script
def ask_outside():
    """Each turn reads a value from outside, which must be fetched once per turn."""
    while True:
        value = recorded(lambda: outside_calls.append((request.command, len(outside_calls))))
        yield say(f"{request.command} {value}")


def test_a_turn_reaching_outside_confirms_first(make_process, scripts):
    """recorded() on the fast path locks first: the outside call is made once, when current."""
    outside_calls.clear()
    a, b = (with_outside_value.using(make_process()) for _ in range(2))
    session_id = str(uuid.uuid4())
    a.handle(request_for(session_id, 0, "one", new=True))
    scripts.clear()
    a.handle(request_for(session_id, 1, "two"))  # current: lock, then write under it
    assert scripts == {"_acquire": 1, "_commit": 1}
    b.handle(request_for(session_id, 2, "three"))
    scripts.clear()
    a.handle(request_for(session_id, 3, "four"))  # behind: the stale run stops at recorded()
    assert scripts == {"_acquire": 1, "_commit": 1}
    assert [command for command, _ in outside_calls] == ["one", "two", "three", "four"]


def test_a_held_lock_is_waited_for(make_process):
    """A fast-path write that finds the lock held waits for it, then answers correctly."""
    store = make_process()
    skill = skills.counter.using(store)
    session_id = str(uuid.uuid4())
    skill.handle(request_for(session_id, 0, new=True))
    lock_key = store.keys(session_id)[0]
    store.client.set(lock_key, "another request", px=300)  # as a request elsewhere would
    assert text_of(skill.handle(request_for(session_id, 1, "x"))) == "2"
    assert text_of(skill.handle(request_for(session_id, 2, "x"))) == "3"


def test_a_new_session_replaces_the_stored_one_in_one_round_trip(make_process, scripts):
    """A new session's first request, in any process, starts over whatever is stored."""
    a, b = (skills.counter.using(make_process()) for _ in range(2))
    session_id = str(uuid.uuid4())
    for message_id in range(3):
        a.handle(request_for(session_id, message_id, "x", new=message_id == 0))
    scripts.clear()
    assert text_of(b.handle(request_for(session_id, 0, new=True))) == "1"
    assert scripts == {"_commit_if_current": 1}
    store = b.store
    assert [turn.request["session"]["message_id"] for turn in store.history(session_id)] == [0]
    # a's generator is behind the restart: a replays the new dialog rather than go on.
    assert text_of(a.handle(request_for(session_id, 1, "x"))) == "2"
    assert text_of(b.handle(request_for(session_id, 2, "x"))) == "3"


def test_a_new_session_waits_for_a_request_holding_the_lock(make_process, scripts):
    """A new session's write that finds the lock held writes nothing; it waits for the
    lock and answers under it."""
    store = make_process()
    skill = skills.counter.using(store)
    session_id = str(uuid.uuid4())
    store.client.set(store.keys(session_id)[0], "another request", px=300)
    assert text_of(skill.handle(request_for(session_id, 0, new=True))) == "1"
    # The write found the lock taken; the lock was then polled for until it expired.
    assert scripts["_commit_if_current"] == scripts["_commit"] == 1
    assert scripts["_acquire"] >= 1
    assert text_of(skill.handle(request_for(session_id, 1, "x"))) == "2"
    assert len(store.history(session_id)) == 2


def test_a_new_session_reaching_outside_locks_first(make_process, scripts):
    """recorded() in a new session's first turn takes the lock before the outside call."""
    outside_calls.clear()
    skill = with_outside_value.using(make_process())
    session_id = str(uuid.uuid4())
    skill.handle(request_for(session_id, 0, "one", new=True))
    assert scripts == {"_acquire": 1, "_commit": 1}
    assert [command for command, _ in outside_calls] == ["one"]
