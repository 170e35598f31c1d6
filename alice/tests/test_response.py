"""say() and suggest(), with the semantics of alice_scripts; fitting into the protocol."""

import pytest

from alice import say, suggest
from alice.engine import fit_response


def test_say_makes_a_response_with_end_session_false():
    """say() returns the response content; end_session defaults to False."""
    assert say("Привет") == {"text": "Привет", "end_session": False}


def test_say_picks_one_of_the_variants_at_random():
    """Positional strings are variants, one chosen at random."""
    assert {say("а", "б", "в")["text"] for _ in range(100)} == {"а", "б", "в"}


def test_keyword_arguments_are_copied_into_the_response():
    """Keyword arguments become response fields; a positional text wins over text=."""
    response = say("Текст", text="другой", tts="т+екст", end_session=True, card={"x": 1})
    assert response == {"text": "Текст", "tts": "т+екст", "end_session": True, "card": {"x": 1}}
    assert say(text="только ключом")["text"] == "только ключом"


def test_modifiers_are_applied_last_in_order():
    """Callables are modifiers applied after the keyword fields, in order."""
    seen = []

    def first(response):
        seen.append(("first", dict(response)))
        response["text"] += "!"

    def second(response):
        seen.append(("second", dict(response)))

    response = say(first, "Привет", second, tts="привет")
    assert response["text"] == "Привет!"
    assert seen[0] == ("first", {"tts": "привет", "text": "Привет", "end_session": False})
    assert seen[1][1]["text"] == "Привет!"


def test_say_refuses_arguments_that_are_neither_text_nor_modifiers():
    """A positional argument that is neither str nor callable is an error."""
    with pytest.raises(ValueError, match="must be str or callable"):
        say("ok", 42)


def test_suggest_appends_hidden_buttons():
    """suggest() adds a {title, hide: True} button per title, after existing buttons."""
    response = say("?", suggest("Да", "Нет"), suggest("Не знаю"), buttons=[{"title": "Сайт"}])
    assert response["buttons"] == [
        {"title": "Сайт"},
        {"title": "Да", "hide": True},
        {"title": "Нет", "hide": True},
        {"title": "Не знаю", "hide": True},
    ]


def test_fit_leaves_a_valid_response_alone_and_copies_it():
    """A response within the limits comes back equal, as a new dict."""
    content = say("Привет", suggest("Да"))
    fitted = fit_response(content)
    assert fitted == content
    assert fitted is not content


@pytest.mark.parametrize(
    ("content", "expected_text"),
    [
        ({"end_session": False}, "…"),
        ({"text": ""}, "…"),
        ({"text": 42}, "42"),
        ({"tts": "голос"}, ""),
        ({"text": "я" * 1024}, "я" * 1024),
    ],
)
def test_fit_makes_the_text_valid(content, expected_text):
    """Text is present, a string, and non-empty unless there is tts."""
    fitted = fit_response(content)
    assert fitted["text"] == expected_text
    assert fitted["end_session"] is False


def test_fit_limits_are_measured_in_characters_and_bytes():
    """Titles count characters; urls and payloads count UTF-8 bytes."""
    url = "https://example.com/" + "я" * 510  # 1040 bytes, 530 characters
    payload = {"t": "я" * 2050}  # 4109 bytes, 2050 characters
    fitted = fit_response(
        {
            "text": "x",
            "buttons": [
                {"title": "я" * 64, "url": url},
                {"title": "б", "payload": payload},
                {"title": "в", "payload": {"ok": object()}},
                "not a button",
            ],
        }
    )
    assert fitted["buttons"] == [{"title": "я" * 64}, {"title": "б"}, {"title": "в"}]


def test_fit_drops_buttons_that_are_not_a_list():
    """`buttons` that is not a list is dropped."""
    assert "buttons" not in fit_response({"text": "x", "buttons": "Да"})
