"""Issue 13: a script that branches on `request.is_authorized` replays the same in any
process, and the access token is never stored."""

import uuid

from alice import Skill, recorded, request, say, start_account_linking
from alice.engine.redis_store import RedisSessionStore
from alice.models import DialogSession, DialogTurn
from alice.testing import DialogClient, build_request, event, utterance

linked = Skill("alice.tests.linked")
tokens_used: list[str] = []


def fetch_name(token: str) -> str:
    """Stands for a call to the partner's API with the user's token."""
    tokens_used.append(token)
    return f"владелец {token[-2:]}"


@linked.script
def linked_script():
    if not request.is_authorized:
        yield say("Войдите, пожалуйста", start_account_linking())
        while not request.is_authorized:
            yield say("Без входа никак", start_account_linking())
    name = recorded(fetch_name, request.access_token)
    yield say(f"Здравствуйте, {name}!")
    while True:
        status = "с аккаунтом" if request.is_authorized else "без аккаунта"
        yield say(f"{request.command}: {status}")


def requests_of_a_dialog(session_id: str) -> list[dict]:
    """A user who links the account in the middle of the dialog, then unlinks it."""
    plain = {"session_id": session_id, "user_id": "Y"}
    return [
        build_request(utterance(""), message_id=0, **plain),
        build_request(utterance("что"), message_id=1, **plain),
        build_request(
            event("AccountLinkingComplete"), message_id=2, access_token="tok-41", **plain
        ),
        build_request(utterance("раз"), message_id=3, access_token="tok-42", **plain),
        build_request(utterance("два"), message_id=4, **plain),
        build_request(utterance("три"), message_id=5, access_token="tok-43", **plain),
    ]


EXPECTED = [
    "Войдите, пожалуйста",
    "Без входа никак",
    "Здравствуйте, владелец 41!",
    "раз: с аккаунтом",
    "два: без аккаунта",
    "три: с аккаунтом",
]


def test_is_authorized_replays_the_same_across_two_processes(backend):
    """Each request goes to the other process, which replays the dialog: the turns taken
    without a token replay without one, those with one as authorised, whatever token (or
    none) the request being answered carries; and no token reaches the store."""
    a, b = backend(), backend()
    session_id = str(uuid.uuid4())
    tokens_used.clear()
    texts = []
    for number, data in enumerate(requests_of_a_dialog(session_id)):
        skill = linked.using((a, b)[number % 2])
        texts.append(skill.handle(data)["response"]["text"])
    assert texts == EXPECTED
    assert tokens_used == ["tok-41"]  # the live call only, with the live request's token
    if isinstance(a, RedisSessionStore):
        _, meta, turns = a.keys(session_id)
        stored = repr(a.client.hgetall(meta)) + repr(a.client.lrange(turns, 0, -1))
    else:
        stored = repr(list(DialogSession.objects.values())) + repr(
            list(DialogTurn.objects.values())
        )
    assert "tok-4" not in stored


def test_an_authorised_start_replays_authorised_when_the_token_is_gone():
    """Started with a linked account, the dialog replays its first turn as authorised even
    when a later request has no token (the account was unlinked meanwhile)."""
    client = DialogClient(linked, replay=True, access_token="tok-77")
    assert client.start().text == "Здравствуйте, владелец 77!"
    client.access_token = None
    assert client.say("раз").text == "раз: без аккаунта"
    client.access_token = "tok-78"
    assert client.say("два").text == "два: с аккаунтом"
