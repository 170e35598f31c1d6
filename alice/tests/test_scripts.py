"""The shipped scripts besides the README one, and the DialogClient helper."""

import pytest

from alice.testing import DialogClient, load_skill


def guess(secret: int, *, confused_at: int | None = None) -> tuple[str, int]:
    """Play guess_number with *secret*; return the final text and the questions asked."""
    client = DialogClient("guess_number")
    assert client.start().titles == ["Готов"]
    reply = client.press("Готов")
    questions = 0
    while not reply.end_session:
        questions += 1
        asked = int(reply.text.rstrip("?").split()[-1])
        if questions == confused_at:
            reply = client.say("может быть")
            assert reply.text == 'Я вас не поняла. Скажите "да" или "нет"'
        assert reply.titles == ["Да", "Нет"]
        reply = client.press("Да" if secret > asked else "Нет")
    return reply.text, questions


@pytest.mark.parametrize("secret", [1, 2, 37, 50, 51, 99, 100])
def test_guess_number_finds_the_number_by_binary_search(secret):
    """The sub-dialog returns yes/no; the search ends within 7 questions."""
    text, questions = guess(secret)
    assert text == f"Думаю, вы загадали число {secret}!"
    assert questions <= 7


def test_guess_number_asks_again_when_not_understood():
    """Neither yes nor no re-asks inside the sub-dialog, which still returns the answer."""
    assert guess(64, confused_at=3)[0] == "Думаю, вы загадали число 64!"


def test_pet_gift_takes_the_name_from_fio_and_the_age_from_number():
    """The name comes from YANDEX.FIO, the age from YANDEX.NUMBER."""
    client = DialogClient("pet_gift")
    client.start()
    fio = [
        {"type": "YANDEX.FIO", "tokens": {"start": 2, "end": 3}, "value": {"first_name": "анна"}}
    ]
    assert client.say("меня зовут анна", entities=fio).text == "Сколько вам лет?"
    assert client.say("мне уже 30").text == "Вы любите кошек или собак?"
    assert client.press("Обожаю кошечек").text == (
        "Рада познакомиться, Анна! Когда вам исполнится 31, я могу подарить котёнка!"
    )


def test_pet_gift_reasks_age_and_pet():
    """No number re-asks the age; neither cats nor dogs re-asks with the buttons again."""
    client = DialogClient("pet_gift")
    replies = client.dialog("Саша", "не скажу", "25", "рыбки", "хочу щенка")
    assert [reply.text for reply in replies[2:5]] == [
        "Я вас не поняла. Скажите, сколько вам лет, числом",
        "Вы любите кошек или собак?",
        "Выберите, пожалуйста: кошки или собаки?",
    ]
    assert replies[4].titles == ["Обожаю кошечек", "Люблю собак"]
    assert replies[5].text.endswith("я могу подарить щенка!")


def test_dialog_client_press_sends_button_pressed_for_payload_buttons():
    """A payload button is pressed as ButtonPressed; an unknown title is an error."""
    client = DialogClient("pet_gift")
    client.dialog("Саша", "20")
    with pytest.raises(ValueError, match="No button 'Попугаи'"):
        client.press("Попугаи")
    assert client.press("люблю собак").end_session


def test_load_skill_by_short_name_or_dotted_path():
    """Scripts are found by their module name in alice.scripts or by a dotted path."""
    assert load_skill("guess_number") is load_skill("alice.scripts.guess_number")
    with pytest.raises(LookupError):
        load_skill("alice.testing")
