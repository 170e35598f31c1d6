"""
The order in which a chat socket delivers live messages (privatemessages/delivery.py),
without a socket: what LiveOrder says to send, to hold, or to replay from the database.
"""

from privatemessages.delivery import LiveOrder


def live(message_id: int, prev_id: int | None) -> dict:
    return {"type": "chat.message", "message": {"id": message_id}, "prev_id": prev_id}


def ids(sent: list[dict]) -> list[int]:
    return [event["message"]["id"] for event in sent]


def synced_at(last_id: int) -> LiveOrder:
    order = LiveOrder()
    order.synced(last_id, more=False)
    return order


def test_before_the_first_sync_live_events_are_dropped():
    """Until the client syncs, a live event is left to the replay: nothing is sent or held."""
    order = LiveOrder()
    assert order.live(live(5, 4)) == []
    assert not order.waiting
    assert order.last_id is None


def test_during_a_catch_up_in_pages_live_events_are_dropped():
    """After a sync that answered "more", the next sync replays them instead."""
    order = LiveOrder()
    order.synced(10, more=True)
    assert order.live(live(11, 10)) == []
    assert not order.waiting
    assert order.last_id == 10


def test_a_held_sync_stops_live_delivery_until_the_next_one():
    """A sync the replay budget held leaves live events to the next sync."""
    order = synced_at(10)
    order.sync_held()
    assert order.live(live(11, 10)) == []
    order.synced(11, more=False)
    assert ids(order.live(live(12, 11))) == [12]


def test_events_in_order_go_out_at_once():
    """Each event whose predecessor went out is sent, and becomes the last id."""
    order = synced_at(10)
    assert ids(order.live(live(11, 10))) == [11]
    assert ids(order.live(live(12, 11))) == [12]
    assert order.last_id == 12
    assert not order.waiting


def test_an_event_without_a_predecessor_goes_out():
    """The thread's first message names no predecessor."""
    order = synced_at(0)
    assert ids(order.live(live(1, None))) == [1]


def test_a_duplicate_is_dropped():
    """The same event twice (a replay and its live copy) goes out once."""
    order = synced_at(10)
    assert ids(order.live(live(11, 10))) == [11]
    assert order.live(live(11, 10)) == []
    assert order.last_id == 11


def test_an_event_older_than_the_last_id_is_dropped():
    """What the replay already delivered is not sent again live."""
    order = synced_at(10)
    assert order.live(live(7, 6)) == []
    assert order.live(live(10, 9)) == []
    assert order.last_id == 10


def test_an_early_event_waits_and_its_predecessor_releases_it():
    """An event that overtook its predecessor is held, then sent right after it, in order."""
    order = synced_at(10)
    assert order.live(live(12, 11)) == []
    assert order.waiting
    assert order.last_id == 10
    assert ids(order.live(live(11, 10))) == [11, 12]
    assert order.last_id == 12
    assert not order.waiting


def test_several_early_events_are_released_as_a_chain():
    """Events that overtook each other go out in id order once the first gap closes."""
    order = synced_at(10)
    assert order.live(live(13, 12)) == []
    assert order.live(live(12, 11)) == []
    assert ids(order.live(live(11, 10))) == [11, 12, 13]
    assert not order.waiting


def test_a_gap_still_open_after_the_wait_is_replayed_from_the_last_id():
    """If the predecessor never comes, the wait ends with "replay after the last id sent"."""
    order = synced_at(10)
    assert order.live(live(13, 12)) == []
    assert order.gap_due() == 10
    assert not order.waiting
    # The replay sends the stored messages, the held one among them.
    for message_id in (11, 12, 13):
        order.replayed(message_id)
    assert order.last_id == 13
    assert order.live(live(13, 12)) == []


def test_a_gap_closed_before_the_wait_ends_needs_no_replay():
    """The wait ending after the events went out reads nothing from the database."""
    order = synced_at(10)
    order.live(live(12, 11))
    order.live(live(11, 10))
    assert order.gap_due() is None


def test_a_held_event_that_a_sync_already_delivered_needs_no_replay():
    """A sync that replayed past a held event leaves no gap to fill."""
    order = synced_at(10)
    order.live(live(12, 11))
    order.synced(order.sync_from(12), more=False)
    assert order.gap_due() is None


def test_a_sync_never_replays_what_the_socket_already_sent():
    """A sync from an older id replays from the socket's last id instead."""
    order = LiveOrder()
    assert order.sync_from(5) == 5
    order.synced(10, more=False)
    assert order.sync_from(5) == 10
    assert order.sync_from(20) == 20
