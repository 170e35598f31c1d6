"""
The shipped scripts played to their end over the chat socket, through the site's real
ASGI stack and the skills' worker threads: chip taps as message frames with a ``button``
reference, the skill typing while it works, buttons without payloads on the wire.
"""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from privatemessages import services as pm_services
from privatemessages.tests.realtime_fixtures import (
    TIMEOUT,
    make_rt_user,
    open_chat,
    receive,
    session_cookie,
)
from skillchat.models import SkillPartner

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def skill_chat(skill: str) -> dict:
    anna = make_rt_user()
    user = make_rt_user(f"skill-{skill}-{anna.pk}")
    SkillPartner.objects.create(user=user, title=skill, mounted_skill=skill)
    first = pm_services.message_send_to_user(sender=anna, recipient=user, text="Привет")
    return {"thread": first.thread, "anna": anna, "skill": user, "cookie": session_cookie(anna)}


class Chat:
    """Anna's chat page, as the browser drives it."""

    def __init__(self, comm, skill_id: int) -> None:
        self.comm = comm
        self.skill_id = skill_id
        self.frames: list[dict] = []
        self.sent = 0

    async def skill_says(self) -> dict:
        """The skill's next message frame (what else came meanwhile is in self.frames)."""

        async def wait():
            while True:
                frame = await receive(self.comm)
                self.frames.append(frame)
                if frame["type"] == "message" and frame["sender_id"] == self.skill_id:
                    return frame

        return await asyncio.wait_for(wait(), TIMEOUT)

    async def say(self, text: str) -> dict:
        self.sent += 1
        await self.comm.send_json_to(
            {"type": "message", "text": text, "client_id": f"c{self.sent}"}
        )
        return await self.skill_says()

    async def tap(self, message: dict, index: int) -> dict:
        self.sent += 1
        await self.comm.send_json_to(
            {
                "type": "message",
                "text": message["attachments"]["buttons"][index]["title"],
                "client_id": f"c{self.sent}",
                "button": {"message_id": message["id"], "index": index},
            }
        )
        return await self.skill_says()


async def open_skill_chat(skill: str) -> Chat:
    data = await skill_chat(skill)
    comm, replayed = await open_chat(data["thread"].pk, data["cookie"])
    chat = Chat(comm, data["skill"].pk)
    # The answer to "Привет": in the replay if it came before the socket opened.
    from_skill = [f for f in replayed if f.get("sender_id") == chat.skill_id]
    chat.greeting = from_skill[0] if from_skill else await chat.skill_says()
    return chat


async def test_guess_number_over_the_socket_with_chip_taps():
    chat = await open_skill_chat("guess_number")
    try:
        question = await chat.tap(chat.greeting, 0)  # "Готов"
        secret = 64
        while not question["attachments"]["end_session"]:
            number = int(question["text"].rstrip("?").split()[-1])
            buttons = question["attachments"]["buttons"]
            assert buttons == [{"title": "Да", "hide": True}, {"title": "Нет", "hide": True}]
            question = await chat.tap(question, 0 if secret > number else 1)
        assert question["text"] == f"Думаю, вы загадали число {secret}!"
        taps = [
            f for f in chat.frames if f["type"] == "message" and f["sender_id"] != chat.skill_id
        ]
        # Each tap came back as the user's message: the button's title, no attachments.
        assert {f["text"] for f in taps} <= {"Готов", "Да", "Нет"}
        assert all("attachments" not in f for f in taps)
    finally:
        await chat.comm.disconnect()


async def test_acquaintance_over_the_socket():
    chat = await open_skill_chat("acquaintance")
    try:
        assert chat.greeting["text"] == "Добрый день! Как вас зовут?"
        assert (await chat.say("Оля"))["text"] == "Сколько вам лет?"
        offer = await chat.say("18")
        assert offer["attachments"]["buttons"][0] == {"title": "Обожаю кошечек", "hide": True}
        ending = await chat.tap(offer, 1)
        assert ending["text"] == (
            "Рада познакомиться, оля! Когда вам исполнится 19, я могу подарить щенка!"
        )
        assert ending["attachments"]["end_session"] is True
    finally:
        await chat.comm.disconnect()


async def test_pet_gift_over_the_socket_payloads_stay_on_the_server():
    chat = await open_skill_chat("pet_gift")
    try:
        await chat.say("Катя")
        offer = await chat.say("7")
        assert offer["attachments"]["buttons"] == [
            {"title": "Обожаю кошечек", "hide": False},
            {"title": "Люблю собак", "hide": False},
        ]
        assert "payload" not in json.dumps(chat.frames)
        ending = await chat.tap(offer, 0)
        assert ending["text"].endswith("я могу подарить котёнка!")
    finally:
        await chat.comm.disconnect()


async def test_a_bad_button_reference_is_an_invalid_button_error():
    chat = await open_skill_chat("pet_gift")
    try:
        for button in (
            {"message_id": chat.greeting["id"], "index": 3},
            {"message_id": "x", "index": 0},
            {"message_id": 999999999, "index": 0},
        ):
            await chat.comm.send_json_to(
                {"type": "message", "text": "x", "client_id": "bad", "button": button}
            )
            error = await receive(chat.comm)
            assert error["type"] == "error"
            assert error["code"] == "invalid_button"
    finally:
        await chat.comm.disconnect()


async def test_the_skill_shows_as_typing_while_it_works(settings):
    from skillchat.tests.skills import go_on

    settings.SKILLCHAT_TYPING_INTERVAL = 0.2
    go_on.clear()
    chat = await open_skill_chat("thinking")
    try:
        await chat.comm.send_json_to({"type": "message", "text": "Почему?", "client_id": "q"})

        async def typing():
            while True:
                frame = await receive(chat.comm)
                if frame["type"] == "typing":
                    return frame

        frame = await asyncio.wait_for(typing(), TIMEOUT)
        assert frame["user_id"] == chat.skill_id
        go_on.set()
        assert (await chat.skill_says())["text"] == "Подумала и отвечаю."
    finally:
        go_on.set()
        await chat.comm.disconnect()


async def test_only_the_participant_opens_a_skill_threads_socket():
    from privatemessages import consumers
    from privatemessages.tests.realtime_fixtures import communicator

    data = await skill_chat("pet_gift")
    carol = await database_sync_to_async(make_rt_user)()
    cookie = await database_sync_to_async(session_cookie)(carol)
    for who, code in (
        (None, consumers.CLOSE_UNAUTHENTICATED),
        (cookie, consumers.CLOSE_FORBIDDEN),
    ):
        comm = communicator(f"/ws/messages/{data['thread'].pk}/", who)
        await comm.connect(timeout=TIMEOUT)
        output = await comm.receive_output(timeout=TIMEOUT)
        assert output["type"] == "websocket.close"
        assert output["code"] == code


async def test_a_socket_message_asks_the_skill_in_the_senders_time_zone(monkeypatch):
    """The zone of the handshake's cookie reaches the request, as a page's does."""
    from skillchat import runner

    asked = []
    real = runner._ask_mounted

    def recording(partner, request):
        asked.append(request["meta"]["timezone"])
        return real(partner, request)

    monkeypatch.setattr(runner, "_ask_mounted", recording)
    data = await skill_chat("acquaintance")
    comm, _ = await open_chat(data["thread"].pk, data["cookie"] + "; timezone=Asia/Vladivostok")
    chat = Chat(comm, data["skill"].pk)
    try:
        await chat.say("Саша")
        assert asked[-1] == "Asia/Vladivostok"
    finally:
        await comm.disconnect()
