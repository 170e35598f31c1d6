"""
Getting acquainted with Alice's NLU: the name from YANDEX.FIO, the age from YANDEX.NUMBER,
and the pet from buttons with payloads (or from speech).
"""

from alice import Skill, request, say

skill = Skill(__name__)

PET_BUTTONS = [
    {"title": "Обожаю кошечек", "payload": {"answer": "cats", "step": 3}},
    {"title": "Люблю собак", "payload": {"answer": "dogs", "step": 3}},
]
GIFTS = {"cats": "котёнка", "dogs": "щенка"}


@skill.script
def run_script():
    yield say("Добрый день! Как вас зовут?")
    name = yield from ask_name()
    age = yield from ask_age()
    pet = yield from ask_pet()
    yield say(
        f"Рада познакомиться, {name}! Когда вам исполнится {age + 1}, "
        f"я могу подарить {GIFTS[pet]}!",
        end_session=True,
    )


def ask_name():
    """Return the first name Alice recognised, or else what the user said."""
    while True:
        for fio in request.entity_values("YANDEX.FIO"):
            if isinstance(fio, dict) and fio.get("first_name"):
                return fio["first_name"].capitalize()
        if request.command:
            return request.command
        yield say("Как вас зовут?")


def ask_age():
    """Ask the age until the answer holds a number; return it."""
    yield say("Сколько вам лет?")
    while not request.numbers:
        yield say("Я вас не поняла. Скажите, сколько вам лет, числом")
    return int(request.numbers[0])


def ask_pet():
    """Offer the pet buttons; return 'cats' or 'dogs' from a button or from speech."""
    yield say("Вы любите кошек или собак?", buttons=PET_BUTTONS)
    while True:
        payload = request.payload
        if isinstance(payload, dict) and payload.get("answer") in GIFTS:
            return payload["answer"]
        if request.has_lemmas("кошка", "кошечка", "кот", "котик"):
            return "cats"
        if request.has_lemmas("собака", "собачка", "пёс", "щенок"):
            return "dogs"
        yield say("Выберите, пожалуйста: кошки или собаки?", buttons=PET_BUTTONS)
