"""The README example (the default skill) through whole dialogs, every branch of it."""

import pytest

from alice.testing import DialogClient

GREETING = "Добрый день! Как вас зовут?"
ASK_AGE = "Сколько вам лет?"
REASK_AGE = "Я вас не поняла. Скажите число"
ASK_PET = "Вы любите кошек или собак?"
REASK_PET = "У вас только два варианта - кошки или собаки"


def texts(*utterances: str) -> list[str]:
    return [reply.text for reply in DialogClient("acquaintance").dialog(*utterances)]


def test_cat_lover_is_promised_a_kitten():
    """The straight path: name, age, cats; the session ends with a kitten."""
    client = DialogClient("acquaintance")
    assert client.start().text == GREETING
    assert client.say("Саша").text == ASK_AGE
    reply = client.say("25")
    assert reply.text == ASK_PET
    assert reply.buttons == [
        {"title": "Обожаю кошечек", "hide": True},
        {"title": "Люблю собак", "hide": True},
    ]
    assert not reply.end_session
    reply = client.press("Обожаю кошечек")
    assert (
        reply.text == "Рада познакомиться, Саша! Когда вам исполнится 26, я могу подарить котёнка!"
    )
    assert reply.end_session


def test_dog_lover_is_promised_a_puppy():
    """The other ending: dogs give a puppy."""
    assert texts("Саша", "40", "Люблю собак") == [
        GREETING,
        ASK_AGE,
        ASK_PET,
        "Рада познакомиться, Саша! Когда вам исполнится 41, я могу подарить щенка!",
    ]


@pytest.mark.parametrize(
    ("name", "kept"),
    [("Саша.", "Саша"), ("Саша...", "Саша"), ("саша", "саша"), ("Анна-Мария", "Анна-Мария")],
)
def test_name_is_kept_with_trailing_dots_stripped(name, kept):
    """The name is the command after the greeting, trailing dots stripped."""
    assert texts(name, "25", "Обожаю кошечек")[-1].startswith(f"Рада познакомиться, {kept}!")


@pytest.mark.parametrize("answer", ["двадцать пять", "мне 25", "25 лет", "25.5", "", "-3"])
def test_age_is_asked_again_until_it_is_a_number(answer):
    """Anything but digits alone re-asks the age; digits then go on."""
    assert texts("Саша", answer, answer, "25") == [
        GREETING,
        ASK_AGE,
        REASK_AGE,
        REASK_AGE,
        ASK_PET,
    ]


def test_trailing_dot_after_the_age_is_accepted():
    """The age "25." is a number once the trailing dot is stripped."""
    assert texts("Саша", "25.")[-1] == ASK_PET


@pytest.mark.parametrize("answer", ["рыбок", "не знаю", "попугаев", "Котов"])
def test_pet_is_asked_again_until_cats_or_dogs(answer):
    """Anything without a cat or a dog re-asks; the suggest buttons are not repeated."""
    client = DialogClient("acquaintance")
    client.dialog("Саша", "25")
    reply = client.say(answer)
    assert reply.text == REASK_PET
    assert reply.buttons == []
    assert not reply.end_session
    assert client.say("кошка").text.endswith("я могу подарить котёнка!")


@pytest.mark.parametrize(
    ("answer", "gift"),
    [
        ("Обожаю кошечек", "котёнка"),
        ("кошки", "котёнка"),
        ("люблю кошечку", "котёнка"),
        ("Люблю собак", "щенка"),
        ("собачки", "щенка"),
        ("собаку хочу", "щенка"),
    ],
)
def test_pet_is_recognised_in_any_form(answer, gift):
    """Cats and dogs are recognised by their lemmas, whatever the word form."""
    assert texts("Саша", "25", answer)[-1].endswith(f"я могу подарить {gift}!")


def test_the_full_transcript_with_every_reask():
    """One dialog through every re-ask, then a kitten."""
    assert texts("Саша.", "не скажу", "двадцать", "33", "попугайчиков", "ну кошек") == [
        GREETING,
        ASK_AGE,
        REASK_AGE,
        REASK_AGE,
        ASK_PET,
        REASK_PET,
        "Рада познакомиться, Саша! Когда вам исполнится 34, я могу подарить котёнка!",
    ]


def test_a_new_dialog_after_the_end_starts_over():
    """After the session ended, the next request of that session id starts the script again."""
    client = DialogClient("acquaintance")
    assert client.dialog("Саша", "25", "кошки")[-1].end_session
    assert client.say("ещё").text == GREETING
