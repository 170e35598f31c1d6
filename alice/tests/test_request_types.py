"""Issue 13: typed access to a request: its type, intents, entities, meta, state, the user."""

from alice import EntityType, IntentName, RequestType
from alice.engine import Request
from alice.engine.request_types import EVENT_TYPES, UTTERANCE_TYPES
from alice.testing import build_request, button_pressed, event, utterance

INTENTS = {
    "YANDEX.CONFIRM": {"slots": {}},
    "order_pizza": {
        "slots": {
            "size": {
                "type": "YANDEX.STRING",
                "tokens": {"start": 1, "end": 2},
                "value": "большую",
            },
            "count": {"type": "YANDEX.NUMBER", "tokens": {"start": 3, "end": 4}, "value": 2},
        }
    },
}


def make(body: dict, **options) -> Request:
    return Request(build_request(body, session_id="s", message_id=1, **options))


def test_request_type_constants():
    assert make(utterance("да")).type == RequestType.SIMPLE_UTTERANCE
    assert make(button_pressed("Да", {"a": 1})).type == RequestType.BUTTON_PRESSED
    assert make(event(RequestType.SHOW_PULL)).type == "Show.Pull"
    assert make(event(RequestType.SHOW_PULL)).is_event
    assert not make(utterance("да")).is_event
    assert len(EVENT_TYPES) == 10
    assert EVENT_TYPES.isdisjoint(UTTERANCE_TYPES)


def test_intents_with_their_slots():
    current = make(utterance("да закажи большую пиццу", intents=INTENTS))
    assert current.intents.confirm
    assert not current.intents.reject
    assert not current.intents.help
    assert not current.intents.repeat
    assert IntentName.CONFIRM in current.intents
    order = current.intents["order_pizza"]
    assert order.slot("size") == "большую"
    assert order.slot("count") == 2
    assert order.slot("address", "нет") == "нет"
    assert order.slots["count"].type == "YANDEX.NUMBER"
    assert make(utterance("привет")).intents == {}


def test_built_in_intents_by_name():
    for name, attribute in [
        (IntentName.REJECT, "reject"),
        (IntentName.HELP, "help"),
        (IntentName.REPEAT, "repeat"),
    ]:
        assert getattr(make(utterance("x", intents={name: {"slots": {}}})).intents, attribute)


def test_entities_by_type_and_still_a_list():
    fio = {
        "type": "YANDEX.FIO",
        "tokens": {"start": 0, "end": 1},
        "value": {"first_name": "саша"},
    }
    number = {"type": "YANDEX.NUMBER", "tokens": {"start": 1, "end": 2}, "value": 25}
    current = make(utterance("Саша 25", entities=[fio, number]))
    assert current.entities == [fio, number]
    assert current.entities.of(EntityType.FIO) == [fio]
    assert current.entities.values(EntityType.NUMBER) == [25]
    assert current.numbers == [25]


def test_meta_and_interfaces():
    current = make(utterance("a"))
    assert current.meta.timezone == "Europe/Moscow"
    assert current.meta.locale == "ru-RU"
    assert current.meta.has_screen
    assert current.meta.interfaces.account_linking
    assert current.meta.interfaces.audio_player
    speaker = make(utterance("a"), meta={"timezone": "Asia/Omsk", "interfaces": {}})
    assert speaker.meta.timezone == "Asia/Omsk"
    assert not speaker.meta.has_screen
    assert not speaker.meta.interfaces.account_linking


def test_state_parts_are_empty_dicts_when_absent():
    current = make(utterance("a"), state={"session": {"step": 1}, "user": {"name": "С"}})
    assert current.state.session == {"step": 1}
    assert current.state.user == {"name": "С"}
    assert current.state.application == {}
    bare = Request({**build_request(utterance("a"), session_id="s", message_id=1)})
    del bare["state"]
    assert bare.state.session == bare.state.user == bare.state.application == {}


def test_the_user_token_and_location():
    anonymous = make(utterance("a"))
    assert not anonymous.is_authorized
    assert anonymous.access_token is None
    assert anonymous.location is None
    linked = make(utterance("a"), access_token="tok", location={"lat": 1.0, "lon": 2.0})
    assert linked.is_authorized
    assert linked.access_token == "tok"
    assert linked.location == {"lat": 1.0, "lon": 2.0}
    signed_in = make(utterance("a"), user_id="Y")
    assert not signed_in.is_authorized  # a Yandex user who has not linked an account
