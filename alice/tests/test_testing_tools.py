"""Issue 13: the tools a skill author relies on: DialogClient's requests and replies, the
pytest fixture, the replay check under another clock and random seed."""

import datetime
import random
import re
import time

import pytest

from alice import RequestType, Skill, recorded, request, say
from alice.engine.request import current_request
from alice.testing import DialogClient, ReplayCheckFailed, build_request, utterance

seen: list = []
mirror = Skill("alice.tests.mirror")


@mirror.script
def mirror_script():
    while True:
        seen.append(current_request())
        yield say(
            f"{request.type} {request.command}",
            session_state={"turn": len(seen)},
            user_state_update={"last": request.command or None},
            application_state={"device": "ok"},
        )


def test_start_with_an_activation_phrase_and_the_state_carried_as_dialogs_does():
    seen.clear()
    client = DialogClient(mirror, state={"user": {"name": "Саша"}})
    reply = client.start("расскажи сказку")
    assert reply.text == "SimpleUtterance расскажи сказку"
    assert seen[-1].is_new_session
    assert seen[-1].state.user == {"name": "Саша"}
    assert reply.state == {
        "session_state": {"turn": 1},
        "user_state_update": {"last": "расскажи сказку"},
        "application_state": {"device": "ok"},
    }
    client.say("дальше")
    assert seen[-1].state.session == {"turn": 1}
    assert seen[-1].state.user == {"name": "Саша", "last": "расскажи сказку"}
    assert seen[-1].state.application == {"device": "ok"}


def test_meta_user_token_and_location_are_settable():
    seen.clear()
    client = DialogClient(mirror, access_token="t-1", yandex_user_id="Y", location={"lat": 1})
    client.start()
    assert seen[-1].is_authorized
    assert seen[-1].access_token == "t-1"
    assert seen[-1]["session"]["user"]["user_id"] == "Y"
    assert seen[-1].location == {"lat": 1}
    client.no_screen()
    client.meta["timezone"] = "Asia/Omsk"
    client.access_token = None
    client.say("ещё")
    assert not seen[-1].meta.has_screen
    assert seen[-1].meta.timezone == "Asia/Omsk"
    assert not seen[-1].is_authorized


def test_senders_of_each_event_type():
    client = DialogClient(mirror)
    client.start()
    sent = [
        client.account_linking_complete("tok"),
        client.geolocation_allowed(55.7, 37.6),
        client.geolocation_rejected(),
        client.audio_player("PlaybackStarted"),
        client.audio_player("PlaybackFinished"),
        client.audio_player("PlaybackNearlyFinished"),
        client.audio_player("PlaybackStopped"),
        client.audio_player("PlaybackFailed"),
        client.purchase_confirmation("req-1", {"item": 1}),
        client.show_pull(),
        client.event(RequestType.SHOW_PULL),
    ]
    types = [request["request"]["type"] for request in client.requests[1:]]
    assert types == [
        "AccountLinkingComplete",
        "Geolocation.Allowed",
        "Geolocation.Rejected",
        "AudioPlayer.PlaybackStarted",
        "AudioPlayer.PlaybackFinished",
        "AudioPlayer.PlaybackNearlyFinished",
        "AudioPlayer.PlaybackStopped",
        "AudioPlayer.PlaybackFailed",
        "Purchase.Confirmation",
        "Show.Pull",
        "Show.Pull",
    ]
    assert client.requests[2]["session"]["location"] == {
        "lat": 55.7,
        "lon": 37.6,
        "accuracy": 10.0,
    }
    assert all(reply.raw["version"] == "1.0" for reply in sent)
    assert [r["session"]["message_id"] for r in client.requests] == list(range(12))


def test_the_public_request_builder_makes_a_valid_request():
    data = build_request(utterance("привет"), session_id="s", message_id=0, access_token="t")
    assert mirror.handle(data)["response"]["text"] == "SimpleUtterance привет"
    assert data["session"]["new"] is True
    assert data["session"]["user"]["access_token"] == "t"


def test_the_fixture_replays_and_needs_no_database(alice_client):
    client = alice_client("acquaintance")
    assert client.replay
    assert client.dialog("Саша", "25", "кошки")[-1].end_session


# The replay check.


def _skill(name, script) -> Skill:
    skill = Skill(f"alice.tests.{name}")
    skill.script(script)
    return skill


def clock_in_a_variable():
    started = time.time()  # read outside recorded(), and no answer shows it
    yield say("Привет")
    yield say(f"Прошло {round(time.time() - started) >= 0}")


def date_in_a_sub_dialog():
    def ask():
        today = datetime.date.today().isoformat()
        yield say("Как дела?")
        return today

    yield say("Привет")
    day = yield from ask()
    yield say(f"Понятно ({len(day)})")


def random_kept():
    secret = random.randint(1, 1_000_000)
    yield say("Я загадала число")
    yield say(f"Вы сказали {request.command}, {secret > 0}")


def all_recorded():
    started = recorded(time.time)
    secret = recorded(random.randint, 1, 1_000_000)
    day = request.random.randint(1, 7)
    yield say("Привет")
    yield say(f"{started > 0} {secret > 0} {day}")


@pytest.mark.parametrize(
    ("script", "path"),
    [
        (clock_in_a_variable, "clock_in_a_variable.started"),
        (date_in_a_sub_dialog, "date_in_a_sub_dialog>date_in_a_sub_dialog.<locals>.ask.today"),
        (random_kept, "random_kept.secret"),
    ],
)
def test_the_replay_check_catches_unrecorded_time_and_randomness_that_change_no_answer(
    script, path
):
    client = DialogClient(_skill(script.__name__, script), replay=True)
    with pytest.raises(ReplayCheckFailed, match=re.escape(path) + " differ"):  # noqa: PT012
        client.start()  # the value is in a variable from the first turn on, or...
        client.say("да")  # ...from the second


def test_a_script_that_records_its_outside_values_passes_the_replay_check():
    client = DialogClient(_skill("all_recorded", all_recorded), replay=True)
    assert client.dialog("а", "б")[1].text.startswith("True True")


def test_without_replay_nothing_is_checked():
    client = DialogClient(_skill("unchecked", random_kept))
    client.start()
    assert client.say("да").text == "Вы сказали да, True"
