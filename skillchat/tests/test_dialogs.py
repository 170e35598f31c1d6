"""
The shipped scripts played to their end through the chat, at the service level: each
message goes through privatemessages' one message service, the hook asks the skill after
commit, the skill's answer is a message of the thread (SKILLCHAT_WORKERS=0: in this thread).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from privatemessages import bots, events
from privatemessages import services as pm_services
from privatemessages.models import Message
from skillchat import runner
from skillchat.hooks import on_message_committed
from skillchat.models import SkillConversation
from skillchat.services import conversation_restart

pytestmark = pytest.mark.usefixtures("inline")


def history(thread) -> list[tuple[str, str]]:
    """(who, text) of every message of the thread: "me" or "skill"."""
    rows = Message.objects.filter(thread=thread).select_related("sender").order_by("id")
    return [("skill" if bots.is_bot(m.sender_id) else "me", m.text) for m in rows]


def last_skill_message(thread) -> Message:
    return Message.objects.filter(thread=thread).order_by("-id").first()


def test_acquaintance_to_its_end(anna, make_skill, talk):
    skill = make_skill("acquaintance")
    first = talk(anna, skill.user, "Привет!")
    for text in ("Саша", "двадцать", "25", "Обожаю кошечек"):
        talk(anna, skill.user, text)
    assert history(first.thread) == [
        ("me", "Привет!"),
        ("skill", "Добрый день! Как вас зовут?"),
        ("me", "Саша"),
        ("skill", "Сколько вам лет?"),
        ("me", "двадцать"),
        ("skill", "Я вас не поняла. Скажите число"),
        ("me", "25"),
        ("skill", "Вы любите кошек или собак?"),
        ("me", "Обожаю кошечек"),
        # Dialogs lower-cases the command, which the script repeats.
        ("skill", "Рада познакомиться, саша! Когда вам исполнится 26, я могу подарить котёнка!"),
    ]
    ending = last_skill_message(first.thread)
    assert ending.attachments == {"buttons": [], "end_session": True}
    assert events.message_payload(ending)["attachments"] == {"buttons": [], "end_session": True}
    # Its suggest chips: hide buttons, no payload.
    offer = Message.objects.get(thread=first.thread, text="Вы любите кошек или собак?")
    assert offer.attachments["buttons"] == [
        {"title": "Обожаю кошечек", "hide": True},
        {"title": "Люблю собак", "hide": True},
    ]
    assert SkillConversation.objects.get(pk=first.thread_id).ended


def tap(user, thread, message, index, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return pm_services.message_create_from_button(
            sender=user, thread=thread, message_id=message.pk, index=index
        )


def test_guess_number_to_its_end_with_taps(
    anna, make_skill, talk, django_capture_on_commit_callbacks
):
    skill = make_skill("guess_number")
    thread = talk(anna, skill.user, "Сыграем?").thread
    secret = 37
    tap(anna, thread, last_skill_message(thread), 0, django_capture_on_commit_callbacks)  # Готов
    for _ in range(10):
        question = last_skill_message(thread)
        if question.attachments["end_session"]:
            break
        number = int(question.text.rstrip("?").split()[-1])
        titles = [b["title"] for b in question.attachments["buttons"]]
        assert titles == ["Да", "Нет"]
        answer = titles.index("Да" if secret > number else "Нет")
        sent = tap(anna, thread, question, answer, django_capture_on_commit_callbacks)
        assert sent.text == titles[answer]
        assert sent.attachments == {"button": {"message_id": question.pk, "index": answer}}
        # A user's tap carries nothing to browsers.
        assert "attachments" not in events.message_payload(sent)
    final = last_skill_message(thread)
    assert final.text == f"Думаю, вы загадали число {secret}!"
    assert final.attachments["end_session"] is True


def test_pet_gift_to_its_end_with_a_payload_button(
    anna, make_skill, talk, django_capture_on_commit_callbacks
):
    skill = make_skill("pet_gift")
    thread = talk(anna, skill.user, "Здравствуйте").thread
    talk(anna, skill.user, "Маша")
    talk(anna, skill.user, "мне 30 лет")
    offer = last_skill_message(thread)
    assert offer.text == "Вы любите кошек или собак?"
    assert offer.attachments["buttons"][1] == {
        "title": "Люблю собак",
        "hide": False,
        "payload": {"answer": "dogs", "step": 3},
    }
    # Browsers get the buttons without their payloads.
    public = events.message_payload(offer)["attachments"]
    assert public["buttons"] == [
        {"title": "Обожаю кошечек", "hide": False},
        {"title": "Люблю собак", "hide": False},
    ]
    tap(anna, thread, offer, 1, django_capture_on_commit_callbacks)
    assert last_skill_message(thread).text == (
        "Рада познакомиться, маша! Когда вам исполнится 31, я могу подарить щенка!"
    )


def test_an_ended_session_is_followed_by_a_new_one(anna, make_skill, talk):
    skill = make_skill("guess_number")
    thread = talk(anna, skill.user, "Играем").thread
    conversation = SkillConversation.objects.get(pk=thread.pk)
    SkillConversation.objects.filter(pk=thread.pk).update(ended=True)
    talk(anna, skill.user, "Ещё раз")
    after = SkillConversation.objects.get(pk=thread.pk)
    assert after.session_seq == conversation.session_seq + 1
    assert after.alice_message_seq == 1  # the new session's first request was sent
    assert last_skill_message(thread).text.startswith("Загадайте число от 1 до 100")


def test_restart_greets_in_a_new_session(
    anna, make_skill, talk, django_capture_on_commit_callbacks
):
    skill = make_skill("acquaintance")
    thread = talk(anna, skill.user, "Привет").thread
    talk(anna, skill.user, "Саша")
    assert last_skill_message(thread).text == "Сколько вам лет?"
    with django_capture_on_commit_callbacks(execute=True):
        conversation_restart(thread=thread)
    assert last_skill_message(thread).text == "Добрый день! Как вас зовут?"
    conversation = SkillConversation.objects.get(pk=thread.pk)
    assert conversation.session_seq == 2
    assert conversation.alice_message_seq == 1
    talk(anna, skill.user, "Петя")
    assert last_skill_message(thread).text == "Сколько вам лет?"


def test_two_messages_are_answered_in_order(anna, make_skill, talk, settings):
    skill = make_skill("acquaintance")
    thread = talk(anna, skill.user, "Привет").thread
    # Two messages committed before the skill is asked (a busy worker): one job answers both.
    settings.SKILLCHAT_WORKERS = 1
    runner._running.add(thread.pk)  # a job "runs": the hook only marks the thread again
    try:
        talk(anna, skill.user, "Саша")
        talk(anna, skill.user, "25")
    finally:
        runner._running.discard(thread.pk)
        runner._again.pop(thread.pk, None)
    while runner.answer_next(thread.pk):
        pass
    assert history(thread)[-4:] == [
        ("me", "Саша"),
        ("me", "25"),
        ("skill", "Сколько вам лет?"),
        ("skill", "Вы любите кошек или собак?"),
    ]
    ids = list(Message.objects.filter(thread=thread).order_by("id").values_list("id", flat=True))
    assert ids == sorted(ids)


def test_a_script_that_raises_gets_the_engines_apology(anna, make_skill, talk, caplog):
    skill = make_skill("raising")
    thread = talk(anna, skill.user, "Привет").thread
    talk(anna, skill.user, "Что-нибудь")
    answer = last_skill_message(thread)
    assert answer.text.startswith("Извините, у меня что-то сломалось")
    assert answer.attachments["end_session"] is True
    assert "the script's own bug" in caplog.text


def test_a_slow_skill_past_its_deadline_answers_the_fallback(anna, make_skill, talk):
    from skillchat.tests.skills import release, slow

    skill = make_skill("slow")
    thread = talk(anna, skill.user, "Привет").thread
    try:
        talk(anna, skill.user, "Какая погода?")
        answer = last_skill_message(thread)
        assert answer.text == slow.deadline_text
        # Abandoned, not delivered late: the next message asks again.
        conversation = SkillConversation.objects.get(pk=thread.pk)
        assert conversation.last_handled_message_id == answer.pk - 1
    finally:
        release.set()


def test_a_failure_in_the_bridge_answers_the_failure_line(anna, make_skill, talk, monkeypatch):
    skill = make_skill("acquaintance")
    thread = talk(anna, skill.user, "Привет").thread

    def broken(answer):
        raise ValueError("broken bridge")

    monkeypatch.setattr("skillchat.answers.chat_message", broken)
    question = talk(anna, skill.user, "Саша")
    answer = last_skill_message(thread)
    assert answer.text.startswith("Извините, навык сейчас не может ответить")
    assert SkillConversation.objects.get(pk=thread.pk).last_handled_message_id == question.pk


def test_cards_and_link_buttons(anna, make_skill, talk):
    skill = make_skill("cards")
    thread = talk(anna, skill.user, "Покажи").thread
    first = last_skill_message(thread)
    assert first.attachments == {
        "buttons": [
            {"title": "Сайт", "hide": False, "url": "https://example.com/"},
            {"title": "Ещё", "hide": True, "payload": {"more": True}},
        ],
        "end_session": False,
        "card": {
            "type": "BigImage",
            "image_url": "https://avatars.mds.yandex.net/get-dialogs-skill-card/"
            "1027858/46d1ce0c9cd5c0e8f7b0/orig",
            "title": "Кот",
            "description": "Рыжий",
        },
    }
    talk(anna, skill.user, "дальше")
    assert last_skill_message(thread).attachments["card"] == {
        "type": "ItemsList",
        "header": "Заголовок",
        "items": [
            {
                "title": "Один",
                "description": "первый",
                "image_url": "https://avatars.mds.yandex.net/get-dialogs-skill-card/1/a/orig",
            },
            {
                "title": "Два",
                "description": "",
                "image_url": "https://avatars.mds.yandex.net/get-dialogs-skill-card/2/b/orig",
            },
        ],
        "footer": "Подвал",
    }
    talk(anna, skill.user, "дальше")
    assert last_skill_message(thread).attachments["card"] == {
        "type": "ImageGallery",
        "items": [
            {
                "title": "Три",
                "image_url": "https://avatars.mds.yandex.net/get-dialogs-skill-card/3/c/orig",
            }
        ],
    }


def test_buttons_that_cannot_be_tapped_are_refused(
    anna, boris, make_skill, talk, django_capture_on_commit_callbacks
):
    skill = make_skill("cards")
    thread = talk(anna, skill.user, "Покажи").thread
    offer = last_skill_message(thread)
    people = talk(anna, boris, "Привет").thread
    own = Message.objects.filter(thread=thread, sender=anna).first()
    refused = [
        (thread, offer.pk, 0),  # a link button
        (thread, offer.pk, 5),  # no such button
        (thread, own.pk, 0),  # the user's own message
        (people, offer.pk, 1),  # a message of another thread
    ]
    for where, message_id, index in refused:
        with pytest.raises(pm_services.MessageError) as error:
            pm_services.message_create_from_button(
                sender=anna, thread=where, message_id=message_id, index=index
            )
        assert error.value.code == "invalid_button"
    for bad in (None, {}, {"message_id": "1", "index": 0}, {"message_id": 1, "index": -1}):
        with pytest.raises(pm_services.MessageError):
            pm_services.check_button_reference(bad)
    # A hide button is gone once its message is not the newest.
    talk(anna, skill.user, "дальше")
    with pytest.raises(pm_services.MessageError):
        pm_services.message_create_from_button(
            sender=anna, thread=thread, message_id=offer.pk, index=1
        )


def test_peoples_threads_ask_no_skill_and_cost_no_query(
    anna, boris, make_skill, talk, django_capture_on_commit_callbacks
):
    make_skill("acquaintance")
    thread = talk(anna, boris, "Привет").thread
    participants = {anna.pk: "anna", boris.pk: "boris"}
    bots.directory().bot_user_ids()  # read once per refresh, not per message

    def queries_of_a_message() -> int:
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            pm_services.message_create(
                sender=anna, thread=thread, text="ещё", participants=participants
            )
        return len(queries)

    with_hook = queries_of_a_message()
    bots.message_committed.disconnect(dispatch_uid="skillchat.answer")
    try:
        without_hook = queries_of_a_message()
    finally:
        bots.message_committed.connect(on_message_committed, dispatch_uid="skillchat.answer")
    assert with_hook == without_hook
    assert not SkillConversation.objects.exists()
