"""
A skill dialog across two real server processes sharing PostgreSQL and Redis (the dialog
in the configured Alice store, the conversation row in the database): the process that
served the first half is killed, the other continues the same dialog; a message that a
dead process committed but never answered is answered, in order, by the next job.

Needs REDIS_URL and a PostgreSQL DATABASE_URL (skipped without them, except under CI).
"""

import pytest
from channels.db import database_sync_to_async

from privatemessages import bots
from privatemessages import services as pm_services
from privatemessages.models import Message
from privatemessages.tests.chat_client import ChatClient
from privatemessages.tests.conftest import start_servers  # noqa: F401  (the fixture)
from privatemessages.tests.realtime_fixtures import (
    REAL_SERVERS_MARKS,
    make_rt_user,
    session_cookie,
)
from skillchat.hooks import on_message_committed
from skillchat.models import SkillPartner

pytestmark = REAL_SERVERS_MARKS


@pytest.fixture
def skill_pair(transactional_db):
    anna = make_rt_user()
    skill = make_rt_user(f"acquaintance-{anna.pk}")
    SkillPartner.objects.create(user=skill, title="Знакомство", mounted_skill="acquaintance")
    # The first message is the test's own, with no answer: the servers' jobs answer.
    bots.message_committed.disconnect(dispatch_uid="skillchat.answer")
    try:
        first = pm_services.message_send_to_user(sender=anna, recipient=skill, text="Привет")
    finally:
        bots.message_committed.connect(on_message_committed, dispatch_uid="skillchat.answer")
    return {"anna": anna, "skill": skill, "thread": first.thread, "cookie": session_cookie(anna)}


def client(server, pair) -> ChatClient:
    return ChatClient(
        server.ws_url, pair["thread"].pk, pair["cookie"], origin=server.http_url, name="anna"
    ).start()


def skill_texts(chat: ChatClient, skill_id: int) -> list[str]:
    return [m["text"] for m in chat.shown if m["sender_id"] == skill_id]


@database_sync_to_async
def leave_unanswered(pair, text: str) -> None:
    """A message saved by a process that died before its skill answered."""
    bots.message_committed.disconnect(dispatch_uid="skillchat.answer")
    try:
        pm_services.message_send_to_user(sender=pair["anna"], recipient=pair["skill"], text=text)
    finally:
        bots.message_committed.connect(on_message_committed, dispatch_uid="skillchat.answer")


@database_sync_to_async
def stored(thread) -> list[tuple[str, str]]:
    rows = Message.objects.filter(thread=thread).order_by("id").values_list("sender_id", "text")
    return [("skill" if bots.is_bot(sender) else "me", text) for sender, text in rows]


async def test_a_dialog_goes_on_after_its_process_is_killed(skill_pair, start_servers):  # noqa: F811
    one, two = start_servers(2)
    skill_id = skill_pair["skill"].pk
    anna = client(one, skill_pair)
    try:
        await anna.wait_for(lambda c: c.connects, 20)
        # The skill's link is newer than "Привет": the dialog opens with the next message.
        await anna.send("Начнём")
        await anna.wait_for(lambda c: len(skill_texts(c, skill_id)) >= 1, 20)
        await anna.send("Саша")
        await anna.wait_for(lambda c: "Сколько вам лет?" in skill_texts(c, skill_id), 20)
    finally:
        await anna.stop()
    one.kill()
    # Saved, never answered (its process is gone), then the next message on process two.
    await leave_unanswered(skill_pair, "двадцать")
    anna = client(two, skill_pair)
    try:
        await anna.wait_for(lambda c: c.connects, 20)
        await anna.send("25")
        await anna.wait_for(lambda c: "Вы любите кошек или собак?" in skill_texts(c, skill_id), 20)
        await anna.send("Люблю собак")
        await anna.wait_for(lambda c: any("щенка" in t for t in skill_texts(c, skill_id)), 20)
    finally:
        await anna.stop()
    assert await stored(skill_pair["thread"]) == [
        ("me", "Привет"),
        ("me", "Начнём"),
        ("skill", "Добрый день! Как вас зовут?"),
        ("me", "Саша"),
        ("skill", "Сколько вам лет?"),
        ("me", "двадцать"),
        ("me", "25"),
        ("skill", "Я вас не поняла. Скажите число"),
        ("skill", "Вы любите кошек или собак?"),
        ("me", "Люблю собак"),
        ("skill", "Рада познакомиться, саша! Когда вам исполнится 26, я могу подарить щенка!"),
    ]
