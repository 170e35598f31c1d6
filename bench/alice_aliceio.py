"""
The durable peer of bench/alice_http.py: the README dialog (alice/scripts/acquaintance.py)
written for aliceio, the maintained Python framework for Alice skills, as its docs write a
skill: a state machine of handlers, its Redis FSM storage (keyed by session, under a key
prefix of the run's own), served by its aiohttp webhook handler on aiohttp's own server.

aliceio pins redis<5.1 (the project pins 8.x), so this file runs in a virtualenv of its own
(bench/requirements-aliceio.txt; bench/alice_http.py makes it) and imports nothing of the
project. The texts are the script's, word for word: the benchmark first checks that both
engines give the same transcript. Words are matched by lemma with pymorphy3, as the
project's ``request.has_lemmas`` does, so that both do the same work per turn.

    python bench/alice_aliceio.py --port 8123   # REDIS_URL, REDIS_KEY_PREFIX from the env
"""

import argparse
import os
import re
from functools import lru_cache

import pymorphy3
from aiohttp import web
from aliceio import Dispatcher, Router, Skill
from aliceio.fsm.context import FSMContext
from aliceio.fsm.state import State, StatesGroup
from aliceio.fsm.storage.redis import DefaultKeyBuilder, RedisStorage
from aliceio.fsm.strategy import FSMStrategy
from aliceio.types import AliceResponse, Message, Response, TextButton
from aliceio.webhook.aiohttp_server import OneSkillAiohttpRequestHandler, setup_application

SKILL_ID = "bench-skill"  # bench/alice_common.py's requests
# As long as the project's dialogs stay (ALICE_SESSION_IDLE_TIMEOUT's default).
IDLE_TIMEOUT = 1800
PETS = ("кошка", "кошечка", "собака", "собачка")
CATS = ("кошка", "кошечка")
WORD = re.compile(r"[\w-]+")
morph = pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    return morph.parse(word)[0].normal_form


def has_lemmas(command: str, *words: str) -> bool:
    lemmas = [lemma(word) for word in WORD.findall(command)]
    return any(lemma(word) in lemmas for word in words)


class Acquaintance(StatesGroup):
    name = State()
    age = State()
    pet = State()


def say(text: str, *buttons: str, end_session: bool = False) -> AliceResponse:
    titles = [TextButton(title=title, hide=True) for title in buttons] or None
    return AliceResponse(response=Response(text=text, buttons=titles, end_session=end_session))


router = Router()


@router.message(Acquaintance.name)
async def took_name(message: Message, state: FSMContext) -> AliceResponse:
    await state.update_data(name=message.command)
    await state.set_state(Acquaintance.age)
    return say("Сколько вам лет?")


@router.message(Acquaintance.age)
async def took_age(message: Message, state: FSMContext) -> AliceResponse:
    if not re.fullmatch(r"\d+", message.command):
        return say("Я вас не поняла. Скажите число")
    await state.update_data(age=int(message.command))
    await state.set_state(Acquaintance.pet)
    return say("Вы любите кошек или собак?", "Обожаю кошечек", "Люблю собак")


@router.message(Acquaintance.pet)
async def took_pet(message: Message, state: FSMContext) -> AliceResponse:
    if not has_lemmas(message.command, *PETS):
        return say("У вас только два варианта - кошки или собаки")
    data = await state.get_data()
    await state.clear()
    pet = "котёнка" if has_lemmas(message.command, *CATS) else "щенка"
    text = f"Рада познакомиться, {data['name']}! Когда вам исполнится {data['age'] + 1}, "
    return say(f"{text}я могу подарить {pet}!", end_session=True)


@router.message()
async def greet(message: Message, state: FSMContext) -> AliceResponse:
    await state.set_state(Acquaintance.name)
    return say("Добрый день! Как вас зовут?")


def application() -> web.Application:
    prefix = os.environ.get("REDIS_KEY_PREFIX", "") + "aliceio"
    storage = RedisStorage.from_url(
        os.environ["REDIS_URL"],
        key_builder=DefaultKeyBuilder(prefix=prefix),
        state_ttl=IDLE_TIMEOUT,
        data_ttl=IDLE_TIMEOUT,
    )
    # Keyed by session, as the project's dialogs are (by default aliceio keys by user).
    dispatcher = Dispatcher(storage=storage, fsm_strategy=FSMStrategy.SESSION)
    dispatcher.include_router(router)
    app = web.Application()
    OneSkillAiohttpRequestHandler(dispatcher=dispatcher, skill=Skill(skill_id=SKILL_ID)).register(
        app, path="/"
    )
    setup_application(app, dispatcher, skill=None)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    lemma("кошечек")  # loads the dictionaries before the first request, as the webhook does
    # (aliceio runs on uvloop by itself when it is installed, as it is here.)
    web.run_app(application(), host=args.host, port=args.port, access_log=None, print=None)
