"""
A skill behind an external webhook: a tiny local server plays the skill. Each request is
sent once, never retried; a timeout, a 500, a body that is not JSON or not an answer get
the failure line; internal addresses and other schemes are refused.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.admin.sites import AdminSite

from alice.engine import deadline
from alice.engine.protocol import validate_request
from privatemessages.models import Message
from skillchat import webhook
from skillchat.admin import SkillPartnerAdmin
from skillchat.models import SkillConversation, SkillPartner

pytestmark = pytest.mark.usefixtures("inline")

FAILURE = "Извините, навык сейчас не может ответить"


class FakeSkill:
    """What the local server answers; the requests it got."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.mode = "answer"
        self.release = threading.Event()

    def reply(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        self.requests.append(body)
        if self.mode == "hang":
            self.release.wait(30)
            return
        if self.mode == "500":
            status, data = 500, b"oops"
        elif self.mode == "html":
            status, data = 200, b"<html>not json</html>"
        elif self.mode == "not-an-answer":
            status, data = 200, b'{"hello": "world"}'
        else:
            said = body["request"].get("original_utterance") or "(новая сессия)"
            answer = {
                "version": "1.0",
                "response": {
                    "text": f"Эхо: {said}",
                    "buttons": [{"title": "Ещё", "payload": {"n": len(self.requests)}}],
                    "end_session": said == "пока",
                },
                "session_state": {"count": len(self.requests)},
            }
            status, data = 200, json.dumps(answer, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


@pytest.fixture
def fake_skill(settings, monkeypatch):
    settings.SKILLCHAT_ALLOW_INTERNAL_WEBHOOKS = True
    settings.SKILLCHAT_ALLOW_HTTP_WEBHOOKS = True
    monkeypatch.setattr(deadline, "_default", 0.5)  # the webhook's timeout
    skill = FakeSkill()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            skill.reply(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    skill.url = f"http://127.0.0.1:{server.server_address[1]}/alice/"
    yield skill
    skill.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(make_skill, fake_skill):
    return make_skill("", kind=SkillPartner.WEBHOOK, url=fake_skill.url)


def newest(thread) -> Message:
    return Message.objects.filter(thread=thread).order_by("-id").first()


def test_a_webhook_skill_answers_in_the_chat(anna, hooked, fake_skill, talk):
    thread = talk(anna, hooked.user, "Привет").thread
    assert newest(thread).text == "Эхо: Привет"
    talk(anna, hooked.user, "Как дела?")
    answer = newest(thread)
    assert answer.text == "Эхо: Как дела?"
    assert answer.attachments["buttons"] == [{"title": "Ещё", "hide": False, "payload": {"n": 2}}]
    first, second = fake_skill.requests
    for request in fake_skill.requests:
        validate_request(request)
    assert first["session"]["new"] is True
    assert second["session"]["new"] is False
    assert second["session"]["message_id"] == 1
    # The session state the skill returned comes back with the next request.
    assert second["state"]["session"] == {"count": 1}
    talk(anna, hooked.user, "пока")
    assert newest(thread).attachments["end_session"] is True
    talk(anna, hooked.user, "снова")
    assert fake_skill.requests[-1]["session"]["new"] is True
    assert fake_skill.requests[-1]["session"]["session_id"] != first["session"]["session_id"]


@pytest.mark.parametrize("mode", ["500", "html", "not-an-answer", "hang"])
def test_a_failing_webhook_gets_the_failure_line_once(
    anna, hooked, fake_skill, talk, mode, caplog
):
    thread = talk(anna, hooked.user, "Привет").thread
    fake_skill.mode = mode
    question = talk(anna, hooked.user, "Ответь")
    assert newest(thread).text.startswith(FAILURE)
    assert len(fake_skill.requests) == 2  # asked once, never again
    conversation = SkillConversation.objects.get(pk=thread.pk)
    assert conversation.last_handled_message_id == question.pk
    assert conversation.webhook_busy_until is None
    assert "webhook" in caplog.text
    fake_skill.release.set()
    fake_skill.mode = "answer"
    talk(anna, hooked.user, "А теперь?")
    assert newest(thread).text == "Эхо: А теперь?"
    assert len(fake_skill.requests) == 3


def test_a_webhook_busy_elsewhere_is_not_asked_again(anna, hooked, fake_skill, talk):
    thread = talk(anna, hooked.user, "Привет").thread
    from django.utils import timezone

    SkillConversation.objects.filter(pk=thread.pk).update(
        webhook_busy_until=timezone.now() + timezone.timedelta(seconds=60)
    )
    talk(anna, hooked.user, "Ещё")
    assert len(fake_skill.requests) == 1
    assert newest(thread).text == "Ещё"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "https://127.0.0.1/",
        "https://localhost/",
        "https://10.1.2.3/",
        "https://192.168.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://0.0.0.0/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "https://user:pass@example.com/",
        "https:///nohost",
    ],
)
def test_internal_addresses_and_other_schemes_are_refused(url):
    with pytest.raises(webhook.WebhookRefused):
        webhook.check_webhook(url)


def test_http_is_refused_unless_allowed(settings):
    with pytest.raises(webhook.WebhookRefused):
        webhook.check_url("http://example.com/")
    settings.SKILLCHAT_ALLOW_HTTP_WEBHOOKS = True
    assert webhook.check_url("http://example.com/x?y=1") == ("http", "example.com", 80, "/x?y=1")


def test_the_call_checks_the_address_again(anna, make_skill, talk, caplog):
    # Saved when it was allowed (or by hand): refused at the call, answered politely.
    partner = make_skill("", kind=SkillPartner.WEBHOOK, url="https://127.0.0.1:9/")
    thread = talk(anna, partner.user, "Привет").thread
    assert newest(thread).text.startswith(FAILURE)
    assert "internal address" in caplog.text


def test_the_admin_form_refuses_an_internal_webhook(db, django_user_model, rf):
    user = django_user_model.objects.create_user(username="hook-skill")
    admin = SkillPartnerAdmin(SkillPartner, AdminSite())
    form_class = admin.get_form(rf.get("/"))
    data = {"user": user.pk, "title": "Hook", "kind": "webhook", "enabled": "on"}
    form = form_class(data={**data, "webhook_url": "https://127.0.0.1/alice/"})
    assert not form.is_valid()
    assert "webhook_url" in form.errors
    form = form_class(data={**data, "kind": "mounted", "mounted_skill": "pet_gift"})
    assert form.is_valid(), form.errors
    form = form_class(data={**data, "kind": "mounted", "mounted_skill": "no-such-skill"})
    assert not form.is_valid()
