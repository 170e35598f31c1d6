"""The in-memory session store: the interface the skill relies on."""

import threading

import pytest

from alice.engine import MemorySessionStore, Session, SessionBusy


def test_save_get_delete():
    """A saved session is returned until deleted."""
    store = MemorySessionStore()
    session = Session("s", turns=1, message_id=0, response={"r": 1})
    store.save(None, session)
    assert store.get("s") is session
    assert len(store) == 1
    store.delete("s")
    store.delete("s")
    assert store.get("s") is None


def test_idle_sessions_expire_on_read_and_on_write():
    """A session idle past the timeout is gone when read, and swept when another is saved."""
    now = [0.0]
    store = MemorySessionStore(idle_timeout=10, clock=lambda: now[0])
    store.save(None, Session("a"))
    store.save(None, Session("b"))
    now[0] = 11
    assert store.get("a") is None
    store.save(None, Session("c"))
    assert len(store) == 1
    now[0] = 30
    store.evict()
    assert len(store) == 0


def test_saving_again_makes_a_session_the_most_recent():
    """Eviction by count drops the least recently saved session first."""
    store = MemorySessionStore(max_sessions=2)
    a, b, c = Session("a"), Session("b"), Session("c")
    store.save(None, a)
    store.save(None, b)
    store.save(None, a)
    store.save(None, c)
    assert (store.get("a"), store.get("b"), store.get("c")) == (a, None, c)


def test_lock_serialises_one_session_but_not_others():
    """Holding one session's lock blocks that session only."""
    store = MemorySessionStore()
    with store.lock("a"):
        with store.lock("b", timeout=0.01):
            pass
        with pytest.raises(SessionBusy), store.lock("a", timeout=0.01):
            pass


def test_lock_is_released_on_error_and_forgotten_when_free():
    """Locks do not leak: none is left once nobody holds or waits for it."""
    store = MemorySessionStore()
    with pytest.raises(ZeroDivisionError), store.lock("a"):
        1 / 0  # noqa: B018
    with store.lock("a", timeout=0.01):
        pass
    assert store._locks._locks == {}


def test_lock_makes_threads_take_turns():
    """Threads holding the same session's lock never overlap."""
    store = MemorySessionStore()
    inside = []
    overlaps = []

    def work():
        for _ in range(200):
            with store.lock("s"):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert store._locks._locks == {}
