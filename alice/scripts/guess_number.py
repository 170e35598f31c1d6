"""Guess the user's number from 1 to 100 by binary search, one yes/no sub-dialog per step."""

from alice import Skill, request, say, suggest

skill = Skill(__name__)


@skill.script
def run_script():
    yield say("Загадайте число от 1 до 100, а я его отгадаю. Готовы?", suggest("Готов"))

    lo, hi = 1, 100
    while lo < hi:
        middle = (lo + hi) // 2
        if (yield from ask_if_greater_than(middle)):
            lo = middle + 1
        else:
            hi = middle

    yield say(f"Думаю, вы загадали число {lo}!", end_session=True)


def ask_if_greater_than(number):
    """Ask whether the number is greater than *number*; return the answer as a bool."""
    yield say(
        f"Ваше число больше {number}?",
        f"Правда ли, что число больше {number}?",
        suggest("Да", "Нет"),
    )

    while not request.has_lemmas("да", "ага", "нет", "не"):
        yield say('Я вас не поняла. Скажите "да" или "нет"', suggest("Да", "Нет"))

    return not request.has_lemmas("нет", "не")
