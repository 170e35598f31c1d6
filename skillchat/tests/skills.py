"""Skills of the tests only: one that raises, one slower than its deadline, one with cards."""

import threading

from alice import Skill, recorded, request, say
from alice.engine import big_image, button, buttons, card_item, image_gallery, items_list

raising = Skill("skillchat.tests.raising")


@raising.script
def raise_at_once():
    yield say("Привет! Скажите что-нибудь.")
    raise RuntimeError("the script's own bug")


# Set at the end of a test, so that the late call does not linger.
release = threading.Event()

slow = Skill("skillchat.tests.slow", deadline=0.05)


@slow.script
def wait_for_the_outside():
    yield say("Спросите меня о погоде.")
    while True:
        answer = recorded(release.wait, 30)
        yield say(f"Ответ пришёл: {answer}. Ещё?")


cards = Skill("skillchat.tests.cards")


@cards.script
def show_cards():
    yield say(
        "Вот картинка.",
        big_image("1027858/46d1ce0c9cd5c0e8f7b0", title="Кот", description="Рыжий"),
        buttons(
            button("Сайт", url="https://example.com/"),
            button("Ещё", payload={"more": True}, hide=True),
        ),
    )
    yield say(
        "Список.",
        items_list(
            card_item("1/a", title="Один", description="первый"),
            card_item("2/b", title="Два"),
            header="Заголовок",
            footer="Подвал",
        ),
    )
    yield say("Галерея.", image_gallery(card_item("3/c", title="Три")))
    yield say(f"Вы сказали: {request.command}", end_session=True)


# The test lets it answer once it has seen the skill typing.
go_on = threading.Event()

thinking = Skill("skillchat.tests.thinking", deadline=float("inf"))


@thinking.script
def think():
    yield say("Задайте вопрос.")
    while True:
        recorded(go_on.wait, 30)
        yield say("Подумала и отвечаю.")
