"""Issue 13: the response builders and the top-level fields, checked against the limits."""

import logging

import pytest

from alice import Skill, say
from alice.engine import build_response, fit_response
from alice.engine.buttons import button, buttons, card_button
from alice.engine.cards import big_image, card_item, image_gallery, items_list
from alice.engine.directives import (
    audio_player_play,
    audio_player_stop,
    request_geolocation,
    show_item_meta,
    start_account_linking,
)
from alice.engine.limits import ResponseLimitError
from alice.testing import DialogClient
from alice.testing.conformance import check_answer


def built(*args, **kwargs) -> dict:
    """The answer say(*args, **kwargs) becomes once fitted and built."""
    answer = build_response(fit_response(say("Текст", *args, **kwargs)))
    check_answer(answer)
    return answer


# Top-level fields.


def test_states_and_analytics_go_at_the_top_level_not_inside_response():
    answer = built(
        session_state={"step": 2},
        user_state_update={"name": "Саша"},
        application_state={"seen": True},
        analytics={"events": [{"name": "started"}]},
    )
    assert answer["session_state"] == {"step": 2}
    assert answer["user_state_update"] == {"name": "Саша"}
    assert answer["application_state"] == {"seen": True}
    assert answer["analytics"] == {"events": [{"name": "started"}]}
    assert set(answer["response"]) == {"text", "end_session"}
    assert list(answer)[-1] == "version"


def test_a_state_over_one_kilobyte_is_a_clear_error():
    say("ok", session_state={"x": "я" * 500})  # 1,000 bytes of UTF-8 and the braces: fits
    with pytest.raises(ResponseLimitError, match=r"session_state is 10\d\d bytes .* over .*1024"):
        say("ok", session_state={"x": "я" * 520})
    with pytest.raises(ResponseLimitError, match="user_state_update must be a dict"):
        say("ok", user_state_update=["a"])


def test_a_state_over_the_limit_set_by_a_modifier_is_dropped_with_an_error(caplog):
    def huge(response):
        response["application_state"] = {"x": "y" * 2000}

    with caplog.at_level(logging.ERROR, logger="alice.engine"):
        answer = build_response(fit_response({"text": "a", **_applied(huge)}))
    assert "application_state" not in answer
    assert "application_state is 20" in caplog.text


def _applied(modifier) -> dict:
    response: dict = {}
    modifier(response)
    return response


def test_an_unknown_keyword_argument_is_warned_about_by_name_and_not_sent(caplog):
    with caplog.at_level(logging.WARNING, logger="alice.engine"):
        answer = built(sesion_state={"typo": 1})
    assert "'sesion_state' is not in the protocol" in caplog.text
    assert "sesion_state" not in answer["response"]


# Buttons.


def test_payload_buttons_carry_title_payload_url_and_hide():
    answer = built(
        buttons(
            button("Да", payload={"answer": True}),
            button("Сайт", url="https://example.com/", hide=True),
            "Просто",
        )
    )
    assert answer["response"]["buttons"] == [
        {"title": "Да", "hide": False, "payload": {"answer": True}},
        {"title": "Сайт", "hide": True, "url": "https://example.com/"},
        {"title": "Просто", "hide": False},
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": "т" * 65}, "button title has 65 characters, over 64"),
        ({"title": 5}, "button title must be a string"),
        ({"title": "ok", "url": "https://e.com/" + "ю" * 510}, "url .* 1034 bytes, over 1024"),
        ({"title": "ok", "payload": {"x": "y" * 4090}}, "payload .* over 4096"),
        ({"title": "ok", "payload": {1, 2}}, "payload .* must be JSON"),
    ],
)
def test_a_button_over_the_limits_is_a_clear_error(kwargs, message):
    with pytest.raises(ResponseLimitError, match=message):
        button(**kwargs)


def test_the_limits_themselves_are_allowed():
    button("т" * 64, url="https://e.com/" + "a" * (1024 - 14), payload={"x": "y" * 4086})


# Cards.


def test_big_image():
    answer = built(
        big_image(
            "1027858/46r960da47f60207e924",
            title="Заголовок",
            description="Описание",
            button=card_button("Открыть", url="https://example.com/"),
        )
    )
    assert answer["response"]["card"] == {
        "type": "BigImage",
        "image_id": "1027858/46r960da47f60207e924",
        "title": "Заголовок",
        "description": "Описание",
        "button": {"text": "Открыть", "url": "https://example.com/"},
    }


def test_items_list_and_gallery():
    items = [card_item(f"id/{n}", title=f"№{n}", description="о") for n in range(5)]
    card = built(items_list(*items, header="Список", footer="Ещё"))["response"]["card"]
    assert card["type"] == "ItemsList"
    assert card["header"] == {"text": "Список"}
    assert card["footer"] == {"text": "Ещё"}
    assert len(card["items"]) == 5
    gallery = [card_item(f"id/{n}", title="т" * 128) for n in range(10)]
    assert len(built(image_gallery(*gallery))["response"]["card"]["items"]) == 10


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: big_image("id", title="т" * 129), "title has 129 characters, over 128"),
        (lambda: big_image("id", description="о" * 257), "description has 257 characters"),
        (lambda: big_image(""), "needs an image_id"),
        (lambda: items_list(*[card_item("i")] * 6), "ItemsList must have 1 to 5 items"),
        (lambda: items_list(), "ItemsList must have 1 to 5 items"),
        (lambda: items_list(card_item("i"), header="з" * 65), "header text has 65"),
        (lambda: items_list(card_item("i"), footer="з" * 65), "footer text has 65"),
        (lambda: image_gallery(*[card_item("i")] * 11), "ImageGallery must have 1 to 10"),
        (lambda: image_gallery(card_item("i", description="о")), "may not have a description"),
        (lambda: card_button("к" * 65), "card button text has 65"),
    ],
)
def test_a_card_over_the_limits_is_a_clear_error(make, message):
    with pytest.raises(ResponseLimitError, match=message):
        make()


def test_a_card_of_an_unknown_type_is_refused_with_an_error_and_a_valid_answer(caplog):
    skill = Skill("alice.tests.unknown_card")

    @skill.script
    def script():
        yield say("Смотрите", card={"type": "BigPicture", "image_id": "x"})

    with caplog.at_level(logging.ERROR, logger="alice.engine"):
        reply = DialogClient(skill).start()  # the client checks the answer's conformance
    assert reply.text == "Смотрите"
    assert reply.card is None
    assert "card refused" in caplog.text
    assert "'BigPicture' is not one of BigImage, ItemsList, ImageGallery" in caplog.text


# Directives and the other response fields.


def test_directives():
    answer = built(start_account_linking(), request_geolocation())
    assert answer["response"]["directives"] == {
        "start_account_linking": {},
        "request_geolocation": {},
    }
    play = built(
        audio_player_play(
            "https://example.com/a.mp3",
            "track-1",
            offset_ms=5,
            title="Песня",
            art_url="https://example.com/a.png",
        )
    )["response"]["directives"]["audio_player"]
    assert play == {
        "action": "Play",
        "item": {
            "stream": {"url": "https://example.com/a.mp3", "offset_ms": 5, "token": "track-1"},
            "metadata": {"title": "Песня", "art": {"url": "https://example.com/a.png"}},
        },
    }
    assert built(audio_player_stop())["response"]["directives"] == {
        "audio_player": {"action": "Stop"}
    }


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: audio_player_play("https://e.com/" + "a" * 1024, "t"), "over 1024"),
        (lambda: audio_player_play("https://e.com/a.mp3", "t", offset_ms=-1), "offset_ms"),
        (lambda: audio_player_play("https://e.com/a.mp3", "t", title="т" * 129), "title"),
    ],
)
def test_a_directive_over_the_limits_is_a_clear_error(make, message):
    with pytest.raises(ResponseLimitError, match=message):
        make()


def test_unknown_directives_are_refused(caplog):
    with caplog.at_level(logging.ERROR, logger="alice.engine"):
        fitted = fit_response(say("a", directives={"teleport": {}}))
    assert "directives" not in fitted
    assert "'teleport' is not one of" in caplog.text


def test_should_listen_and_show_item_meta():
    answer = built(
        show_item_meta("news-1", title="Новости", publication_date="2026-11-30T06:00:00Z"),
        should_listen=False,
    )
    assert answer["response"]["should_listen"] is False
    assert answer["response"]["show_item_meta"] == {
        "content_id": "news-1",
        "publication_date": "2026-11-30T06:00:00Z",
        "title": "Новости",
    }
