"""
The per-user limits (privatemessages/userlimits.py): messages per second and
open sockets across all of a user's sockets, with the store the settings give
(Redis with REDIS_URL, process memory without), the leases that free the
sockets of a crashed process, and what happens when Redis is down. Across real
processes in test_realtime_sessions_and_limits.py.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async

from privatemessages import consumers, services, userlimits
from privatemessages.conf import app_settings
from privatemessages.models import Message
from privatemessages.ratelimit import TokenBucket
from privatemessages.tests.realtime_fixtures import (
    TIMEOUT,
    communicator,
    drain,
    make_rt_user,
    needs_real_services,
    open_chat,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat():
    anna, boris = make_rt_user("anna"), make_rt_user("boris")
    first = services.message_send_to_username(sender=anna, recipient_username="boris", text="0")
    return {
        "anna": anna,
        "thread": first.thread,
        "first": first,
        "cookies": [session_cookie(anna), session_cookie(anna)],
        "boris": session_cookie(boris),
    }


async def closed_with(comm) -> int:
    output = await comm.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close"
    return output["code"]


async def test_the_send_limit_is_per_user_across_sockets(chat, settings):
    """Messages from all of a user's sockets share one budget: past it they are
    refused with rate_limited and a retry_after, and not saved."""
    settings.PRIVATEMESSAGES_USER_SEND_BURST = 3
    settings.PRIVATEMESSAGES_USER_SEND_RATE = 0.01
    thread = chat["thread"]
    sockets = [
        (await open_chat(thread.pk, cookie, after=chat["first"].pk))[0]
        for cookie in chat["cookies"]
    ]
    for n in range(4):
        await sockets[n % 2].send_json_to(
            {"type": "message", "text": f"вкладка {n}", "client_id": f"tab{n}"}
        )
    frames = [frame for comm in sockets for frame in await drain(comm, 0.5)]
    refused = [f for f in frames if f["type"] == "error"]
    # Which one is past the budget depends on which socket's frame came first.
    assert [f["code"] for f in refused] == ["rate_limited"]
    assert 0 < refused[0]["retry_after"] <= 1 / 0.01
    saved = await database_sync_to_async(
        lambda: sorted(
            Message.objects.filter(thread=thread, client_id__startswith="tab").values_list(
                "client_id", flat=True
            )
        )
    )()
    assert saved == sorted({"tab0", "tab1", "tab2", "tab3"} - {refused[0]["client_id"]})
    # Another user has a budget of their own.
    boris, _ = await open_chat(thread.pk, chat["boris"], after=chat["first"].pk)
    await boris.send_json_to({"type": "message", "text": "я тоже", "client_id": "b1"})
    frames = await drain(boris, 0.5)
    assert [f["type"] for f in frames] == ["message"]
    for comm in [*sockets, boris]:
        await comm.disconnect()


async def test_a_socket_past_the_users_limit_is_closed_with_4429(chat, settings):
    """Chat pages and thread lists count alike; the socket past
    PRIVATEMESSAGES_USER_MAX_SOCKETS is closed with 4429, and a closed socket
    makes room for a new one."""
    settings.PRIVATEMESSAGES_USER_MAX_SOCKETS = 2
    thread = chat["thread"]
    cookie = chat["cookies"][0]
    first, _ = await open_chat(thread.pk, cookie)
    thread_list = communicator("/ws/messages/", chat["cookies"][1])
    assert (await thread_list.connect(timeout=TIMEOUT))[0]
    third = communicator(f"/ws/messages/{thread.pk}/", cookie)
    await third.connect(timeout=TIMEOUT)
    assert await closed_with(third) == consumers.CLOSE_TOO_MANY_SOCKETS
    # Other users are not affected.
    boris, _ = await open_chat(thread.pk, chat["boris"])

    await first.disconnect()
    await asyncio.sleep(0.1)
    fourth, frames = await open_chat(thread.pk, cookie)
    assert frames[-1]["type"] == "synced"
    for comm in (thread_list, fourth, boris):
        await comm.disconnect()


async def test_a_socket_refused_for_another_reason_does_not_count(chat, settings):
    """Only accepted sockets count: refusals (4401, 4403) leave the count alone."""
    settings.PRIVATEMESSAGES_USER_MAX_SOCKETS = 1
    stranger = communicator("/ws/messages/999999999/", chat["cookies"][0])
    await stranger.connect(timeout=TIMEOUT)
    assert await closed_with(stranger) == consumers.CLOSE_FORBIDDEN
    comm, frames = await open_chat(chat["thread"].pk, chat["cookies"][0])
    assert frames[-1]["type"] == "synced"
    await comm.disconnect()


# The limiter on its own.


def test_token_bucket_may_go_into_debt_and_says_when_to_come_back():
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=20, clock=lambda: now[0])
    assert bucket.try_take(15) == 0
    assert bucket.try_take(15) == 0  # 5 tokens left: allowed, 10 in debt
    assert bucket.try_take(1) == pytest.approx(1.1)  # 11 tokens to refill
    now[0] = 1.1
    assert bucket.try_take(1) == 0
    assert not bucket.full
    now[0] = 10
    assert bucket.full


class CountingStore(userlimits._MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.takes = 0

    def take_now(self, *args) -> float:
        self.takes += 1
        return super().take_now(*args)


async def test_a_refused_user_is_refused_locally_until_the_refill(settings):
    """Under a flood the store is asked once per refill, not once per frame,
    and the event loop knows the refusal without a hop."""
    settings.PRIVATEMESSAGES_USER_SEND_BURST = 2
    settings.PRIVATEMESSAGES_USER_SEND_RATE = 5
    store = CountingStore()
    limits = userlimits.UserLimits(store)
    assert limits.message_refused_for(7) == 0
    answers = [limits.take_message_now(7) for _ in range(50)]
    assert answers[:2] == [0, 0]
    assert all(0 < retry <= 0.2 for retry in answers[2:])
    assert store.takes == 3
    assert 0 < limits.message_refused_for(7) <= 0.2
    assert limits.message_refused_for(8) == 0
    await asyncio.sleep(0.25)
    assert limits.message_refused_for(7) == 0
    assert limits.take_message_now(7) == 0
    assert store.takes == 4


async def test_memory_store_counts_sockets(settings):
    settings.PRIVATEMESSAGES_USER_MAX_SOCKETS = 2
    limits = userlimits.UserLimits(userlimits._MemoryStore())
    one, two = await limits.open_socket(1), await limits.open_socket(1)
    assert one is not None
    assert two is not None
    assert await limits.open_socket(1) is None
    assert await limits.open_socket(2) is not None
    await limits.close_socket(one)
    assert await limits.open_socket(1) is not None


@needs_real_services("Redis")
async def test_the_sockets_of_a_crashed_process_stop_counting(settings, monkeypatch):
    """A socket is a lease its process renews: the live ones keep counting past
    the lease, those of a process that died stop counting when it runs out."""
    monkeypatch.setattr(userlimits, "SOCKET_LEASE", 1.0)
    settings.PRIVATEMESSAGES_USER_MAX_SOCKETS = 2
    user_id = 10**9 + 7
    crashed = userlimits.UserLimits(userlimits._RedisStore(settings.REDIS_URL))
    alive = userlimits.UserLimits(userlimits._RedisStore(settings.REDIS_URL))
    assert await crashed.open_socket(user_id) is not None
    live = await alive.open_socket(user_id)
    assert live is not None
    assert await alive.open_socket(user_id) is None
    # The crashed process renews nothing any more.
    crashed.store.open.clear()
    for _ in range(3):
        await asyncio.sleep(0.5)
        await alive.store.renew()
    slot = await alive.open_socket(user_id)
    assert slot is not None  # the crashed one's lease ran out, the live one's did not
    assert await alive.open_socket(user_id) is None
    for each in (live, slot):
        await alive.close_socket(each)
    await crashed.store.client.aclose()
    await alive.store.client.aclose()


async def test_redis_down_lets_everything_through(settings):
    """The limits protect the service; without Redis they do not stop it."""
    settings.PRIVATEMESSAGES_USER_MAX_SOCKETS = 1
    limits = userlimits.UserLimits(userlimits._RedisStore("redis://127.0.0.1:9/0"))
    assert limits.take_message_now(1) == 0
    assert await limits.take_replay(1, 1000) == 0
    slots = [await limits.open_socket(1), await limits.open_socket(1)]
    assert all(slots)
    await limits.close_socket(slots[0])


@needs_real_services("Redis")
async def test_redis_bucket_refills_at_its_rate(settings):
    store = userlimits._RedisStore(settings.REDIS_URL)
    rate = userlimits.Rate(rate=20, burst=2)
    user_id = 10**9 + 11
    assert await store.take("t", user_id, rate, 1) == 0
    assert await store.take("t", user_id, rate, 1) == 0
    retry = await store.take("t", user_id, rate, 1)
    assert 0 < retry <= 0.05 + 0.01
    await asyncio.sleep(retry + 0.02)
    assert await store.take("t", user_id, rate, 1) == 0
    await store.client.aclose()


@needs_real_services("Redis")
async def test_a_message_thread_and_the_event_loop_take_from_one_bucket(settings):
    """The send limit is taken in a message's database thread (synchronous
    client), the replay's on the event loop: one bucket per user and kind."""
    store = userlimits._RedisStore(settings.REDIS_URL)
    rate = userlimits.Rate(rate=1, burst=2)
    user_id = 10**9 + 12
    assert await asyncio.to_thread(store.take_now, "t", user_id, rate, 1) == 0
    assert await store.take("t", user_id, rate, 1) == 0
    assert await asyncio.to_thread(store.take_now, "t", user_id, rate, 1) > 0
    assert await store.take("t", user_id, rate, 1) > 0
    await store.client.aclose()


@needs_real_services("Redis")
async def test_a_token_taken_in_the_publish_serves_the_next_message_and_no_more(settings):
    """take_ahead: the next message's token rides in this one's publish round trip; the
    user gets the burst and not one message more."""
    settings.PRIVATEMESSAGES_USER_SEND_RATE = 0.001
    settings.PRIVATEMESSAGES_USER_SEND_BURST = 2
    store = userlimits._RedisStore(settings.REDIS_URL)
    limits = userlimits.UserLimits(store)
    user_id = 10**9 + 13
    asked = []
    real_take = store.take

    async def counted_take(*args):
        asked.append(args)
        return await real_take(*args)

    store.take = counted_take

    async def publish_with(also) -> None:
        pipe = store.client.pipeline(transaction=False)
        pipe.publish("test-take-ahead", "a message")  # what the publish sends first
        answered = also(pipe)
        answered(await pipe.execute())

    assert await limits.take_message(user_id) == 0  # the first: a round trip of its own
    await publish_with(limits.take_ahead(user_id))  # takes the second's token
    assert limits.take_ahead(user_id) is None  # one in hand: nothing more to take
    assert await limits.take_message(user_id) == 0  # the second: no round trip
    await publish_with(limits.take_ahead(user_id))  # the bucket is empty: refused
    assert await limits.take_message(user_id) > 0  # the third: refused, no round trip
    assert len(asked) == 1
    await store.client.aclose()


def test_settings_default_to_one_connections_worth(settings):
    """By default a user may send as fast as one connection may: more sockets add
    nothing, and the defaults follow the per-connection setting."""
    assert app_settings.USER_SEND_RATE == app_settings.WS_RATE
    assert app_settings.USER_SEND_BURST >= app_settings.WS_BURST
    assert app_settings.USER_MAX_SOCKETS == 50
    assert app_settings.USER_REPLAY_BURST >= 5 * consumers.SYNC_LIMIT
    settings.PRIVATEMESSAGES_WS_RATE = 1000.0
    assert app_settings.USER_SEND_RATE == 1000.0
