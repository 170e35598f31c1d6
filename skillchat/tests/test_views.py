"""
The pages and endpoints of a skill thread: the restart endpoint's authorization matrix,
the page context, the JSON payloads (buttons without payloads), the API's participant check.
"""

import pytest
from django.urls import reverse

from privatemessages import events
from privatemessages.models import Message
from skillchat.models import SkillConversation

pytestmark = pytest.mark.usefixtures("inline")


@pytest.fixture
def skill(make_skill):
    return make_skill("pet_gift", description="Кошки или собаки")


@pytest.fixture
def skill_thread(anna, skill, talk):
    return talk(anna, skill.user, "Привет").thread


def restart_url(thread) -> str:
    return reverse("skillchat:restart", kwargs={"thread_id": thread.pk})


def test_the_restart_url_is_the_chats(skill_thread):
    assert restart_url(skill_thread) == f"/messages/chat/{skill_thread.pk}/restart/"


def test_anonymous_restart_is_sent_to_login(client, skill_thread):
    response = client.post(restart_url(skill_thread))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_restart_by_get_is_not_allowed(make_client, anna, skill_thread):
    assert make_client(anna).get(restart_url(skill_thread)).status_code == 405


def test_restart_by_a_non_participant_is_404(make_client, carol, skill_thread):
    assert make_client(carol).post(restart_url(skill_thread)).status_code == 404
    assert not SkillConversation.objects.get(pk=skill_thread.pk).restart_requested


def test_restart_of_a_peoples_thread_is_404(make_client, anna, boris, talk):
    thread = talk(anna, boris, "Привет").thread
    assert make_client(anna).post(restart_url(thread)).status_code == 404


def test_restart_of_a_missing_thread_is_404(make_client, anna, db):
    response = make_client(anna).post("/messages/chat/999999999/restart/")
    assert response.status_code == 404


def test_a_form_restart_redirects_to_the_chat(
    make_client, anna, skill_thread, django_capture_on_commit_callbacks
):
    client = make_client(anna, enforce_csrf_checks=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(restart_url(skill_thread))
    assert response.status_code == 303
    assert response["Location"] == skill_thread.get_absolute_url()
    greeting = Message.objects.filter(thread=skill_thread).order_by("-id").first()
    assert greeting.text == "Добрый день! Как вас зовут?"


def test_a_fetch_restart_gets_204(make_client, anna, skill_thread):
    response = make_client(anna).post(
        restart_url(skill_thread), headers={"Accept": "application/json"}
    )
    assert response.status_code == 204


def test_restart_needs_the_csrf_token(make_client, anna, skill_thread):
    client = make_client(anna, enforce_csrf_checks=True)
    assert client.post(restart_url(skill_thread)).status_code == 403


def test_the_chat_page_knows_its_partner_is_a_skill(make_client, anna, skill_thread):
    response = make_client(anna).get(skill_thread.get_absolute_url())
    chat = response.context["chat"]
    assert chat.partner_is_skill is True
    assert chat.restart_url == restart_url(skill_thread)


def test_a_peoples_chat_page_has_no_restart(make_client, anna, boris, talk):
    thread = talk(anna, boris, "Привет").thread
    chat = make_client(anna).get(thread.get_absolute_url()).context["chat"]
    assert chat.partner_is_skill is False
    assert chat.restart_url is None


def test_the_thread_list_marks_skills_and_lists_them(
    make_client, anna, boris, skill, skill_thread, talk, make_skill
):
    talk(anna, boris, "Привет")
    make_skill("guess_number", enabled=False)  # not offered
    response = make_client(anna).get("/messages/")
    marks = {summary.partner: summary.partner_is_skill for summary in response.context["threads"]}
    assert marks == {skill.user.username: True, "boris": False}
    assert response.context["skill_partners"] == [
        {"username": skill.user.username, "title": skill.title, "description": "Кошки или собаки"}
    ]
    summary = next(s for s in response.context["threads"] if s.partner_is_skill)
    assert events.thread_summary_payload(summary)["partner_is_skill"] is True
    people = next(s for s in response.context["threads"] if not s.partner_is_skill)
    assert "partner_is_skill" not in events.thread_summary_payload(people)


def test_history_json_carries_buttons_without_payloads(
    make_client, anna, skill, skill_thread, talk
):
    talk(anna, skill.user, "Маша")
    talk(anna, skill.user, "30")
    response = make_client(anna).get(
        reverse("privatemessages:history", kwargs={"thread_id": skill_thread.pk})
    )
    messages = response.json()["messages"]
    offer = messages[-1]
    assert offer["attachments"] == {
        "buttons": [
            {"title": "Обожаю кошечек", "hide": False},
            {"title": "Люблю собак", "hide": False},
        ],
        "end_session": False,
    }
    assert "payload" not in response.content.decode()
    assert all("attachments" not in m for m in messages if m["sender"] == "anna")


def test_a_non_participant_cannot_write_to_a_skill_thread(carol, skill_thread):
    from privatemessages import services

    with pytest.raises(services.MessageError) as error:
        services.message_create(sender=carol, thread=skill_thread, text="Я тут")
    assert error.value.code == "not_participant"
    with pytest.raises(services.MessageError):
        services.message_create_from_button(
            sender=carol, thread=skill_thread, message_id=skill_thread.messages.last().pk, index=0
        )


def test_a_non_participant_sees_no_skill_thread(make_client, carol, skill_thread):
    client = make_client(carol)
    assert client.get(skill_thread.get_absolute_url()).status_code == 404
    history = reverse("privatemessages:history", kwargs={"thread_id": skill_thread.pk})
    assert client.get(history).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_request_carries_the_senders_time_zone(
    make_client, anna, skill, monkeypatch, settings
):
    """Committed in the request (no test transaction): the hook sees the request's zone."""
    from django.test import Client

    from skillchat import runner

    asked = []
    real = runner._ask_mounted

    def recording(partner, request):
        asked.append(request)
        return real(partner, request)

    monkeypatch.setattr(runner, "_ask_mounted", recording)
    client = make_client(anna)
    assert isinstance(client, Client)
    client.cookies["timezone"] = "Asia/Vladivostok"
    data = {"recipient": skill.user.username, "text": "Привет"}
    assert client.post("/messages/send_message/", data).status_code == 302
    client.cookies["timezone"] = "Nowhere/Forged"
    thread = skill.user.message_threads.get()
    client.post(f"/messages/chat/{thread.pk}/send/", {"text": "Саша"})
    assert [r["meta"]["timezone"] for r in asked] == ["Asia/Vladivostok", settings.TIME_ZONE]


def test_the_demo_skills_are_linked_once(db, settings):
    from io import StringIO

    from django.core.management import call_command

    from skillchat.models import SkillPartner

    settings.DEBUG = True
    call_command("create_demo_skills", stdout=StringIO())
    call_command("create_demo_skills", stdout=StringIO())
    partners = SkillPartner.objects.order_by("user__username")
    assert [(p.user.username, p.mounted_skill) for p in partners] == [
        ("acquaintance", "acquaintance"),
        ("guess_number", "guess_number"),
        ("pet_gift", "pet_gift"),
    ]
    assert not any(p.user.has_usable_password() for p in partners)


def test_the_admin_pages_of_skills_open(make_client, make_user, skill, skill_thread):
    admin = make_user("admin", is_staff=True, is_superuser=True)
    client = make_client(admin)
    for url in (
        "/admin/skillchat/skillpartner/",
        "/admin/skillchat/skillpartner/add/",
        f"/admin/skillchat/skillpartner/{skill.pk}/change/",
        "/admin/skillchat/skillconversation/",
        f"/admin/skillchat/skillconversation/{skill_thread.pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/skillchat/skillconversation/add/").status_code == 403
