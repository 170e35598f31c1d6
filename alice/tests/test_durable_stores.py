"""
The durable stores, Redis and the database, in one process: two store instances over one
backend stand for two server processes (each has its own generators).
"""

import io
import json
import logging
import os
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings

from alice import recorded, say
from alice.db_store import DatabaseSessionStore
from alice.engine import SessionBusy, Skill
from alice.engine.redis_store import RedisSessionStore
from alice.models import DialogSession, DialogTurn
from alice.scripts import acquaintance, guess_number
from alice.testing import DialogClient
from alice.tests import skills

from .test_engine import request_for, run_together, text_of


@pytest.fixture
def concurrent_backend(backend):
    """The backend, for tests with several connections at once."""
    return backend


def processes(skill: Skill, make, count: int = 2, **options) -> list[Skill]:
    """Return *skill* as served by *count* processes sharing one backend."""
    return [skill.using(make(**options)) for _ in range(count)]


def test_a_dialog_alternating_between_two_processes_completes(backend):
    """Every request goes to the other process, which replays the dialog, then answers."""
    a, b = processes(acquaintance.skill, backend)
    session_id = str(uuid.uuid4())
    texts = [
        text_of((a, b)[i % 2].handle(request_for(session_id, i, command, new=i == 0)))
        for i, command in enumerate(["", "Саша", "двадцать", "25", "рыбки", "собаки"])
    ]
    assert texts == [
        "Добрый день! Как вас зовут?",
        "Сколько вам лет?",
        "Я вас не поняла. Скажите число",
        "Вы любите кошек или собак?",
        "У вас только два варианта - кошки или собаки",
        "Рада познакомиться, Саша! Когда вам исполнится 26, я могу подарить щенка!",
    ]


def test_a_restarted_process_continues_the_dialog(backend):
    """A new process (an empty store instance) rebuilds the dialog and goes on."""
    (before,) = processes(acquaintance.skill, backend, 1)
    client = DialogClient(before)
    client.dialog("Саша", "25")
    assert before.store.live_sessions == 1
    (after,) = processes(acquaintance.skill, backend, 1)
    client.skill = after
    assert client.say("кошки").text.endswith("Когда вам исполнится 26, я могу подарить котёнка!")


def test_a_generator_behind_the_store_is_replaced_by_a_replay(backend):
    """A process whose generator missed a turn served elsewhere does not answer from it."""
    a, b = processes(skills.counter, backend)
    session_id = str(uuid.uuid4())
    assert text_of(a.handle(request_for(session_id, 0, new=True))) == "1"
    assert text_of(a.handle(request_for(session_id, 1, "x"))) == "2"
    assert text_of(b.handle(request_for(session_id, 2, "x"))) == "3"
    assert text_of(a.handle(request_for(session_id, 3, "x"))) == "4"  # not "3" again
    assert text_of(a.handle(request_for(session_id, 4, "x"))) == "5"


def test_a_restart_elsewhere_is_seen_by_a_process_holding_the_old_dialog(backend):
    """session.new served by another process replaces the dialog this one holds."""
    a, b = processes(skills.counter, backend)
    session_id = str(uuid.uuid4())
    for i in range(3):
        a.handle(request_for(session_id, i, "x", new=i == 0))
    assert text_of(b.handle(request_for(session_id, 0, new=True))) == "1"
    assert text_of(a.handle(request_for(session_id, 1, "x"))) == "2"


def test_a_retry_sent_to_the_other_process_gets_the_same_response(backend):
    """The response of (session, message_id) is kept in the store, random variant and all."""
    a, b = processes(guess_number.skill, backend)
    session_id = str(uuid.uuid4())
    a.handle(request_for(session_id, 0, new=True))
    answers = [a.handle(request_for(session_id, 1, "да"))]
    answers += [(b, a)[i % 2].handle(request_for(session_id, 1, "да")) for i in range(4)]
    assert all(answer == answers[0] for answer in answers)
    asked = int(text_of(answers[0]).rstrip("?").split()[-1])
    assert asked == 50
    assert text_of(b.handle(request_for(session_id, 2, "нет"))).rstrip("?").endswith("25")


def test_the_history_restarts_with_the_session_and_goes_with_its_end(backend):
    """session.new starts a new history; the end of the dialog drops it, keeps the answer."""
    (skill,) = processes(acquaintance.skill, backend, 1)
    client = DialogClient(skill)
    client.dialog("Саша", "25")
    assert len(skill.store.history(client.session_id)) == 3
    client.start()
    assert len(skill.store.history(client.session_id)) == 1
    last = client.dialog("Саша", "25", "кошки")[-1]
    assert skill.store.history(client.session_id) == []
    (other,) = processes(acquaintance.skill, backend, 1)
    retry = request_for(client.session_id, client.message_id, "кошки")
    assert other.handle(retry) == last.raw
    assert client.say("ещё").text == "Добрый день! Как вас зовут?"


def test_a_hold_carries_the_session_and_history_reads_through_it(backend):
    """
    lock() returns the request's hold, with the session read under the lock; history()
    gives the same turns through the hold inside a request as without one outside, and the
    dialog goes on after the hold is left.
    """
    # No generator kept: every hold takes the backend's lock (no fast path).
    (skill,) = processes(skills.counter, backend, 1, max_sessions=0)
    session_id = str(uuid.uuid4())
    skill.handle(request_for(session_id, 0, new=True))
    skill.handle(request_for(session_id, 1, "x"))
    store = skill.store
    outside = [turn.digest for turn in store.history(session_id)]
    assert len(outside) == 2
    with store.lock(session_id, 1) as held:
        assert held.session_id == session_id
        assert held.session.turns == 2
        assert [turn.digest for turn in store.history(session_id, held)] == outside
    assert text_of(skill.handle(request_for(session_id, 2, "x"))) == "3"


def test_the_access_token_never_reaches_the_store(backend):
    """Neither the turns nor the meta hold the user's access_token."""
    (skill,) = processes(acquaintance.skill, backend, 1)
    session_id = str(uuid.uuid4())
    user = {"user_id": "A", "access_token": "secret-token-77"}
    skill.handle(request_for(session_id, 0, new=True, user=user))
    skill.handle(request_for(session_id, 1, "Саша", user=user))
    store = skill.store
    if isinstance(store, RedisSessionStore):
        _, meta, turns = store.keys(session_id)
        stored = repr(store.client.hgetall(meta)) + repr(store.client.lrange(turns, 0, -1))
    else:
        stored = repr(list(DialogSession.objects.values())) + repr(
            list(DialogTurn.objects.values())
        )
    assert "Саша" in stored
    assert "secret-token-77" not in stored
    # Only whether the account was linked is kept (issue 13: a replay branches as the
    # live run did), never the token.
    assert [turn.request["session"] for turn in store.history(session_id)] == [
        {"message_id": 0, "new": True, "authorized": True},
        {"message_id": 1, "new": False, "authorized": True},
    ]


def test_idle_sessions_expire(backend):
    """Past the idle timeout the dialog is gone everywhere and starts over."""
    a, b = processes(skills.counter, backend, idle_timeout=1)
    session_id = str(uuid.uuid4())
    a.handle(request_for(session_id, 0, new=True))
    a.handle(request_for(session_id, 1, "x"))
    if isinstance(a.store, RedisSessionStore):
        _, meta, turns = a.store.keys(session_id)
        assert 0 < a.store.client.pttl(meta) <= 1000
        assert 0 < a.store.client.pttl(turns) <= 1000
    time.sleep(1.1)
    assert b.store.get(session_id) is None
    assert text_of(a.handle(request_for(session_id, 2, "x"))) == "1"


def test_the_turn_cap_ends_the_dialog_in_any_process(backend, caplog):
    """Past max_turns the dialog ends politely, wherever the request lands."""
    a, b = processes(skills.counter, backend, max_turns=3)
    session_id = str(uuid.uuid4())
    texts = [
        text_of((a, b)[i % 2].handle(request_for(session_id, i, "x", new=i == 0)))
        for i in range(4)
    ]
    assert texts == ["1", "2", "3", a.too_long_text]
    assert "reached 3 turns" in caplog.text


def test_a_divergent_session_is_ended_in_the_store(backend, caplog):
    """A replay that diverges ends the dialog for every process, with a logged error."""
    a, b = processes(skills.counter, backend)
    session_id = str(uuid.uuid4())
    a.handle(request_for(session_id, 0, new=True))
    a.handle(request_for(session_id, 1, "x"))
    changed = Skill(skills.counter.name)  # a deploy changed the script meanwhile

    @changed.script
    def count_from_ten():
        n = 10
        while True:
            n += 1
            yield say(str(n))

    changed = changed.using(b.store)
    with caplog.at_level(logging.ERROR, logger="alice.engine"):
        assert text_of(changed.handle(request_for(session_id, 2, "x"))) == changed.lost_text
    assert "diverged at turn 1" in caplog.text
    assert a.store.get(session_id).over
    assert text_of(a.handle(request_for(session_id, 3, "x"))) == "1"


def test_one_request_sent_to_two_processes_at_once_advances_the_dialog_once(
    concurrent_backend,
):
    """The same request on two processes at once: one answers, the other gets that answer."""
    a, b = processes(skills.slow_counter, concurrent_backend)
    session_id = str(uuid.uuid4())
    a.handle(request_for(session_id, 0, new=True))
    results = run_together(
        lambda: a.handle(request_for(session_id, 1, "x")),
        lambda: b.handle(request_for(session_id, 1, "x")),
    )
    assert [text_of(result) for result in results] == ["2", "2"]
    assert text_of(b.handle(request_for(session_id, 2, "x"))) == "3"


def test_two_requests_on_two_processes_at_once_are_served_in_turn(concurrent_backend):
    """Different requests at once on two processes: both turns counted, none lost."""
    a, b = processes(skills.slow_counter, concurrent_backend)
    session_id = str(uuid.uuid4())
    a.handle(request_for(session_id, 0, new=True))
    results = run_together(
        lambda: a.handle(request_for(session_id, 1, "x")),
        lambda: b.handle(request_for(session_id, 2, "y")),
    )
    assert sorted(text_of(result) for result in results) == ["2", "3"]
    assert text_of(a.handle(request_for(session_id, 3, "z"))) == "4"


def test_a_request_waiting_past_the_timeout_gets_busy(concurrent_backend):
    """While another process holds the session, a request gives up after its timeout."""
    first, second = concurrent_backend(), concurrent_backend()
    holding = threading.Event()
    release = threading.Event()

    def hold():
        with first.lock("s", 5):
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(5)
        with pytest.raises(SessionBusy), second.lock("s", 0.1):
            pass
    finally:
        release.set()
        thread.join(5)
    with second.lock("s", 1) as held:
        assert held.session is None


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_an_answer_given_after_the_lock_expired_is_not_saved(backend, caplog):
    """
    Redis: a turn slower than the lock TTL is not saved (another may own the session).
    The database store holds its lock for the whole transaction: it cannot expire.
    """
    store = backend(lock_ttl=0.01)
    slow = skills.slow_counter.using(store)
    session_id = str(uuid.uuid4())
    # The first turn elsewhere: a new session's first turn takes no lock (the fast path).
    other = skills.slow_counter.using(backend())
    assert text_of(other.handle(request_for(session_id, 0, new=True))) == "1"
    # Here the dialog is locked, replayed and answered: slower than the lock's TTL.
    assert text_of(slow.handle(request_for(session_id, 1, "x"))) == slow.busy_text
    assert "lock expired" in caplog.text
    assert store.get(session_id).turns == 1
    assert store.live_sessions == 0
    fast = skills.slow_counter.using(backend())
    assert text_of(fast.handle(request_for(session_id, 1, "x"))) == "2"


def test_a_failing_store_is_answered_with_an_apology(caplog):
    """Redis down: the request gets a protocol apology, not a 500, and the error is logged."""
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    skill = skills.counter.using(RedisSessionStore(client=client, namespace="down"))
    response = skill.handle(request_for("s", 0, new=True))
    assert response["response"] == {"text": skill.apology_text, "end_session": True}
    assert "the session store failed" in caplog.text


@pytest.mark.django_db
@override_settings(ALICE_SESSION_STORE="alice.db_store.DatabaseSessionStore")
def test_clearsessions_deletes_only_expired_dialogs():
    """manage.py alice_clearsessions deletes expired sessions with their turns."""
    store = DatabaseSessionStore(namespace="clear", idle_timeout=60)
    skill = skills.counter.using(store)
    for session_id in ("old", "recent"):
        skill.handle(request_for(session_id, 0, new=True))
        skill.handle(request_for(session_id, 1, "x"))
    DialogSession.objects.filter(session_id="old").update(expires="2000-01-01T00:00:00Z")
    assert store.get("old") is None
    out = io.StringIO()
    call_command("alice_clearsessions", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 expired dialog(s)."
    assert list(DialogSession.objects.values_list("session_id", flat=True)) == ["recent"]
    assert DialogTurn.objects.count() == 2


@pytest.mark.parametrize(
    "path",
    [
        "alice.engine.storage.MemorySessionStore",
        "alice.engine.redis_store.RedisSessionStore",
        "alice.testing.RecordingMemoryStore",
    ],
)
def test_clearsessions_is_a_no_op_for_stores_that_expire_sessions_themselves(path):
    """alice_clearsessions runs with any configured store; Redis and memory have nothing to
    delete (TTLs, eviction), and the database's dialogs are left alone."""
    with override_settings(ALICE_SESSION_STORE=path, REDIS_URL="redis://127.0.0.1:1/0"):
        out = io.StringIO()
        call_command("alice_clearsessions", stdout=out)
    assert out.getvalue().strip() == "Deleted 0 expired dialog(s)."


@pytest.mark.django_db
def test_the_database_store_clears_expired_dialogs_of_every_skill():
    """clear_expired() is the store's: it deletes every skill's expired dialogs, and only those."""
    for namespace in ("one", "two"):
        skill = skills.counter.using(DatabaseSessionStore(namespace=namespace))
        for session_id in ("old", "recent"):
            skill.handle(request_for(session_id, 0, new=True))
            skill.handle(request_for(session_id, 1, "x"))
    DialogSession.objects.filter(session_id="old").update(expires="2000-01-01T00:00:00Z")
    assert DatabaseSessionStore(namespace="").clear_expired() == 2
    assert sorted(DialogSession.objects.values_list("namespace", "session_id")) == [
        ("one", "recent"),
        ("two", "recent"),
    ]


ordered = Skill("alice.tests.ordered")


@ordered.script
def keys_in_order():
    value = recorded(lambda: {"я": 1, "b": 2, "a": 3})
    while True:
        yield say(",".join(value))


def test_recorded_values_and_responses_keep_their_key_order(backend):
    """A replay sees a recorded object's keys in their order; a retry gets the same bytes."""
    a, b = processes(ordered, backend)
    session_id = str(uuid.uuid4())
    first = a.handle(request_for(session_id, 0, new=True))
    assert text_of(first) == "я,b,a"
    assert text_of(b.handle(request_for(session_id, 1, "x"))) == "я,b,a"  # replayed
    retry = a.handle(request_for(session_id, 1, "x"))
    assert json.dumps(retry, ensure_ascii=False) == json.dumps(
        b.handle(request_for(session_id, 1, "x")), ensure_ascii=False
    )
    assert list(retry["response"]) == ["text", "end_session"]


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_script_redis_does_not_know_is_sent_whole_once(backend):
    """Redis runs the Lua scripts by SHA1; one missing from its cache is sent with EVAL."""
    from alice.engine.redis_store import _Script

    store = backend()
    script = _Script(f"-- {uuid.uuid4().hex}\nreturn ARGV[1]")
    connection = store.client.connection_pool.get_connection()
    try:
        assert script(connection, (), "first") == "first"  # NOSCRIPT, then EVAL
        assert store.client.script_exists(script.sha) == [True]
        assert script(connection, (), "second") == "second"  # EVALSHA
    finally:
        store.client.connection_pool.release(connection)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_connection_broken_while_idle_is_replaced(backend):
    """After Redis closed the store's idle connection (a restart), requests still succeed."""
    store = backend()
    skill = skills.counter.using(store)
    session_id = str(uuid.uuid4())
    assert text_of(skill.handle(request_for(session_id, 0, new=True))) == "1"
    pool = store.client.connection_pool
    idle = pool.get_connection()  # the store's, back in the pool since the request ended
    try:
        idle.send_command("CLIENT", "ID")
        store.client.client_kill_filter(_id=idle.read_response())  # on another connection
    finally:
        pool.release(idle)
    assert text_of(skill.handle(request_for(session_id, 1, "x"))) == "2"
    assert text_of(skill.handle(request_for(session_id, 2, "x"))) == "3"


def _store_on(client: redis.Redis, backend) -> RedisSessionStore:
    """Return a Redis store of the backend's namespace that uses *client*."""
    store = backend()
    return RedisSessionStore(client=client, key_prefix=store.key_prefix, namespace=store.namespace)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_the_store_takes_its_connections_from_the_clients_pool(backend):
    """
    The pool's max_connections holds for the store: while the pool's only connection is in
    use elsewhere, a request fails as when Redis fails (an apology); once it is free, the
    dialog goes on (on that one connection, which the store then keeps).
    """
    client = redis.Redis.from_url(settings.REDIS_URL, max_connections=1)
    skill = skills.counter.using(_store_on(client, backend))
    session_id = str(uuid.uuid4())
    busy = client.connection_pool.get_connection()
    try:
        answer = skill.handle(request_for(session_id, 0, new=True))
        assert text_of(answer) == skills.counter.apology_text
    finally:
        client.connection_pool.release(busy)
    assert text_of(skill.handle(request_for(session_id, 0, new=True))) == "1"
    assert text_of(skill.handle(request_for(session_id, 1, "x"))) == "2"
    client.close()


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_store_used_after_a_fork_does_not_share_the_parents_socket(backend):
    """
    A child process (a server's forked worker) that uses a store inherited from its parent
    runs its turn on a connection of its own, never on the parent's; and the dialog stays
    consistent across both (the parent replays the turn the child answered).
    """
    names = {who: f"alice-test-{who}-{uuid.uuid4().hex[:8]}" for who in ("parent", "child")}
    client = redis.Redis.from_url(settings.REDIS_URL, client_name=names["parent"])
    observer = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    skill = skills.counter.using(_store_on(client, backend))
    session_id = str(uuid.uuid4())
    assert text_of(skill.handle(request_for(session_id, 0, new=True))) == "1"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running anything of pytest's
        try:
            os.close(read_end)
            client.connection_pool.connection_kwargs["client_name"] = names["child"]
            answer = text_of(skill.handle(request_for(session_id, 1, "x")))
            last = {name: [] for name in names.values()}
            for entry in observer.client_list():
                last.get(entry["name"], []).append(entry["cmd"])
            os.write(write_end, json.dumps([answer, last]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        answer, last = json.loads(pipe.read() or "[null, {}]")
    assert answer == "2"
    # The child's turn opened a connection of its own (named as the child's): it would
    # have opened none had it taken the parent's kept socket.
    assert last[names["child"]] == ["evalsha"]
    assert last[names["parent"]] == ["evalsha"]
    assert text_of(skill.handle(request_for(session_id, 2, "x"))) == "3"
    client.close()
    observer.close()
