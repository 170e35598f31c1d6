"""The `request` object: the dict, its helpers, lemmas, and one request per context."""

import asyncio

import pytest

from alice import request
from alice.engine.morphology import lemma
from alice.engine.request import Request, activate, deactivate


def make(command: str | None = "", **body) -> Request:
    inner = {"type": "SimpleUtterance", **body}
    if command is not None:
        inner["command"] = command
    return Request(
        {
            "request": inner,
            "session": {
                "session_id": "sid",
                "message_id": 3,
                "new": False,
                "user_id": "UID",
                "application": {"application_id": "APP"},
            },
            "version": "1.0",
        }
    )


def test_reads_like_the_request_dict():
    """The request is the protocol dict: indexing, get, membership, iteration."""
    current = make("привет", original_utterance="Привет!")
    assert current["request"]["original_utterance"] == "Привет!"
    assert current.get("meta") is None
    assert "session" in current
    assert set(current) == {"request", "session", "version"}
    assert isinstance(current, dict)


def test_command_has_trailing_dots_stripped():
    """`command` is the command field without its trailing dots."""
    assert make("Саша...").command == "Саша"
    assert make("т.е. так.").command == "т.е. так"


def test_matches_is_a_full_match_on_the_command():
    """`matches` is re.fullmatch on the command, with flags."""
    assert make("25").matches(r"\d+")
    assert not make("мне 25").matches(r"\d+")
    assert make("ДА").matches("да", flags=2)  # re.IGNORECASE


def test_words_are_words_and_numbers_of_the_command():
    """`words` finds words, numbers and hyphenated words."""
    assert make("Анна-Мария, мне 25 лет!").words == ["Анна-Мария", "мне", "25", "лет"]


def test_lemmas_are_normal_forms_of_the_words():
    """`lemmas` holds the first parse's normal form of each word."""
    assert make("Обожаю кошечек").lemmas == ["обожать", "кошечка"]
    assert make("Люблю собак").lemmas == ["любить", "собака"]


def test_has_lemmas_compares_normal_forms():
    """`has_lemmas` is true when any given word's normal form is among the lemmas."""
    assert make("Обожаю кошечек").has_lemmas("кошка", "кошечка")
    assert make("Люблю собак").has_lemmas("собака")
    assert make("Люблю собак").has_lemmas("собаки", "кошки")
    assert not make("Люблю собак").has_lemmas("кошка", "кошечка")
    assert not make("").has_lemmas("да")


def test_lemma_is_cached():
    """One word is analysed once."""
    lemma.cache_clear()
    for _ in range(3):
        assert lemma("кошечек") == "кошечка"
    info = lemma.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_ids_and_flags():
    """`session_id`, `message_id`, `user_id` and `is_new_session` read the session."""
    current = make("x")
    assert (current.session_id, current.message_id, current.user_id) == ("sid", 3, "UID")
    assert current.is_new_session is False
    del current["session"]["user_id"]
    assert current.user_id == "APP"  # the deprecated field's replacement


def test_other_request_fields():
    """`original_utterance`, `type` and `payload` read the request body, with defaults."""
    current = make("x", original_utterance="X.", payload={"a": 1}, type="ButtonPressed")
    assert (current.original_utterance, current.type, current.payload) == (
        "X.",
        "ButtonPressed",
        {"a": 1},
    )
    bare = Request({"request": {}, "session": {}, "version": "1.0"})
    assert (bare.command, bare.original_utterance, bare.type, bare.payload) == (
        "",
        "",
        "SimpleUtterance",
        None,
    )
    assert bare.entities == []
    assert bare.numbers == []
    assert bare.words == []


def test_button_pressed_without_command_reads_the_button_title():
    """Without a command (ButtonPressed), the command is the NLU tokens of the title."""
    current = make(
        None, type="ButtonPressed", payload={"x": 1}, nlu={"tokens": ["люблю", "собак"]}
    )
    assert current.command == "люблю собак"
    assert current.has_lemmas("собака")
    assert make(None, type="ButtonPressed").command == ""


def test_entities_and_numbers():
    """`entities` lists the NLU entities; `numbers` gives the YANDEX.NUMBER values."""
    entities = [
        {"type": "YANDEX.FIO", "tokens": {"start": 0, "end": 1}, "value": {"first_name": "саша"}},
        {"type": "YANDEX.NUMBER", "tokens": {"start": 1, "end": 2}, "value": 25},
        {"type": "YANDEX.NUMBER", "tokens": {"start": 3, "end": 4}, "value": 2.5},
    ]
    current = make("саша 25 и 2.5", nlu={"tokens": [], "entities": entities})
    assert current.entities == entities
    assert current.numbers == [25, 2.5]
    assert current.entity_values("YANDEX.FIO") == [{"first_name": "саша"}]


def test_ping_is_recognised():
    """A ping is an empty command with the utterance "ping"; a user saying ping is not."""
    assert make("", original_utterance="ping").is_ping
    assert not make("ping", original_utterance="ping").is_ping
    assert not make("", original_utterance="").is_ping


def test_proxy_reads_the_active_request():
    """`alice.request` stands for the active request, with its helpers and dict access."""
    token = activate(make("Обожаю кошечек"))
    try:
        assert request.command == "Обожаю кошечек"
        assert request.has_lemmas("кошечка")
        assert request["version"] == "1.0"
        assert "session" in request
        assert len(request) == 3
        assert request == make("Обожаю кошечек")
    finally:
        deactivate(token)


def test_proxy_outside_a_request_raises_a_clear_error():
    """Reading `request` outside a running script says why it fails."""
    with pytest.raises(RuntimeError, match="only available while a script handles a request"):
        request.command  # noqa: B018
    assert repr(request) == "<request: none active>"


async def test_each_asyncio_task_sees_its_own_request():
    """Concurrent tasks each read their own request across awaits."""

    async def handle(command: str) -> str:
        token = activate(make(command))
        try:
            await asyncio.sleep(0.01)
            return request.command
        finally:
            deactivate(token)

    assert await asyncio.gather(*(handle(f"c{i}") for i in range(10))) == [
        f"c{i}" for i in range(10)
    ]


def test_a_turn_context_carries_the_bookkeeping_and_request_stays_the_users():
    """The script sees the turn's request; recorded() reads the replayed values from the
    TurnContext, and the request carries none of them."""
    from alice import recorded
    from alice.engine.turn import TurnContext, activate_turn, deactivate_turn

    current = Request({"request": {"command": "да"}, "session": {"session_id": "s"}})
    turn = TurnContext(current, 3, replayed=iter([42]))
    token = activate_turn(turn)
    try:
        assert request.command == "да"
        assert recorded(lambda: 0) == 42
        assert request.random.random() == TurnContext(current, 3).random.random()
    finally:
        deactivate_turn(token)
    assert turn.replaying
    assert turn.values == []
    assert not any(hasattr(current, name) for name in ("_turn", "_values", "_replayed"))
