"""
What the accessibility, phone and keyboard tests share: the people and messages
of a small site, browser contexts at desktop and phone size in either language,
signed in by a session cookie, and the pages each test visits.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from privatemessages import services
from privatemessages.tests.browser_fixtures import WAIT
from privatemessages.tests.realtime_fixtures import make_rt_user, session_cookie

LANGUAGES = ["ru", "en"]
ZONE = "Europe/Moscow"


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    phone: bool


DESKTOP = Screen("desktop", 1280, 800, phone=False)
# The size of a common phone (CSS pixels).
PHONE = Screen("phone", 390, 844, phone=True)
SCREENS = [DESKTOP, PHONE]


def seed_conversation() -> dict:
    """Anna and Boris with a few messages each way, the last two unread by Anna."""
    anna = make_rt_user("anna")
    boris = make_rt_user("boris")
    send = services.message_send_to_username
    first = send(sender=anna, recipient_username="boris", text="Привет! Как дела?")
    send(sender=boris, recipient_username="anna", text="Отлично, спасибо. Ты где?")
    send(sender=anna, recipient_username="boris", text="Дома, пишу тесты.\nА ты?")
    send(sender=boris, recipient_username="anna", text="Еду домой.")
    last = send(sender=boris, recipient_username="anna", text="Hello from the train 🚆")
    return {"anna": anna, "boris": boris, "thread": first.thread, "last": last}


def new_context(browser, base_url: str, *, screen: Screen, language: str, user=None):
    """
    A browser context of *screen*'s size, asking for *language* by Django's
    language cookie, in a fixed zone (so timezone.js has nothing to reload),
    signed in as *user* if given.
    """
    context = browser.new_context(
        base_url=base_url,
        viewport={"width": screen.width, "height": screen.height},
        is_mobile=screen.phone,
        has_touch=screen.phone,
        device_scale_factor=2 if screen.phone else 1,
        locale="ru-RU" if language == "ru" else "en-US",
        timezone_id=ZONE,
    )
    context.set_default_timeout(WAIT)
    host = urlsplit(base_url).hostname
    cookies = {settings.LANGUAGE_COOKIE_NAME: language, "timezone": ZONE}
    if user is not None:
        name, _, value = session_cookie(user).partition("=")
        cookies[name] = value
    context.add_cookies(
        [{"name": k, "value": v, "domain": host, "path": "/"} for k, v in cookies.items()]
    )
    return context


def open_chat(page, thread_id: int) -> None:
    page.goto(f"/messages/chat/{thread_id}/")
    page.wait_for_selector("#chat[data-connection=synced]")
