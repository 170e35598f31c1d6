"""
Two people chat in two real browsers (headless Chromium driven by Playwright)
through the site's server processes.

All need /usr/bin/chromium. With REDIS_URL and a PostgreSQL DATABASE_URL the
site is two processes behind nginx (deploy/cluster.py); on the embedded
defaults (SQLite, in-memory channel layer) the tests that only use browsers
run against one process, as ``make run`` serves the site. Skipped without
what they need, except under CI.
"""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.utils.text import Truncator

from privatemessages import selectors, services
from privatemessages.models import Message
from privatemessages.tests.browser_fixtures import (
    BROWSER_TEST_MARKS,
    WAIT,
    in_thread,
)
from privatemessages.tests.realtime_fixtures import (
    PASSWORD,
    make_rt_user,
    needs_programs,
    needs_real_services,
)
from privatemessages.tests.servers import (
    Cluster,
    ServerProcess,
    TcpProxy,
    free_port,
    server_env,
)

pytestmark = BROWSER_TEST_MARKS


# The site on real services: the test process can then send messages that
# reach the browsers (through Redis) and the cluster's nginx is exercised.
def needs_cluster(test):
    return needs_real_services()(needs_programs("nginx")(test))


REAL_SERVICES = bool(settings.REDIS_URL) and connection.vendor == "postgresql"


HOSTILE = (
    '<img src=x onerror="window.__pwned=(window.__pwned||0)+1"><script>window.__pwned=1</script>'
)
# What the main flow reads on the page, per language of the browser (its
# Accept-Language picks the page's language).
TEXTS = {
    "ru-RU": {"3 messages": "сообщения", "today": "сегодня", "time": "%H:%M"},
    "en-US": {"3 messages": "messages", "today": "today", "time": "%I:%M %p"},
}
NEWEST_IN_VIEW = """() => {
  const last = document.querySelector("#message-list li:last-child").getBoundingClientRect();
  const box = document.getElementById("message-list").parentElement.getBoundingClientRect();
  return last.bottom <= box.bottom + 1 && last.top >= box.top - 1;
}"""


@pytest.fixture
def cluster(transactional_db, tmp_path):
    cluster = Cluster(2, tmp_path, server_env())
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def site(transactional_db, tmp_path):
    """The cluster on real services; otherwise one process on the embedded defaults."""
    if REAL_SERVICES:
        server = Cluster(2, tmp_path, server_env())
    else:
        server = ServerProcess(free_port(), tmp_path, server_env())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def people(transactional_db):
    anna = make_rt_user("anna", password=PASSWORD)
    # A username that would run code if it were ever inserted as HTML.
    boris = make_rt_user(f"boris{HOSTILE}", password=PASSWORD)
    first = services.message_send_to_username(
        sender=anna, recipient_username=boris.username, text="Привет!"
    )
    return {"anna": anna, "boris": boris, "thread": first.thread}


class Person:
    """One browser context: a person with their own cookies and time zone."""

    def __init__(self, browser, base_url: str, user, zone: str, locale: str = "ru-RU") -> None:
        self.user = user
        self.zone = zone
        self.base_url = base_url
        self.context = browser.new_context(timezone_id=zone, locale=locale, base_url=base_url)
        self.context.set_default_timeout(WAIT)
        self.problems: list[str] = []
        self.page = self.new_page()

    def new_page(self):
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("dialog", lambda dialog: (self.problems.append(dialog.message), dialog.dismiss()))
        return page

    def log_in(self, next_path: str) -> None:
        page = self.page
        page.goto(f"/accounts/login/?next={next_path}")
        page.fill("input[name=username]", self.user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"**{next_path}")

    def open_chat(self, thread_id: int, page=None) -> None:
        page = page or self.page
        if not page.url.endswith(f"/messages/chat/{thread_id}/"):
            page.goto(f"/messages/chat/{thread_id}/")
        # timezone.js may reload a first visit once, in the browser's zone.
        page.wait_for_selector("#chat[data-connection=synced]")

    def message_texts(self, page=None) -> list[str]:
        page = page or self.page
        return page.locator("#message-list .message__text").all_text_contents()

    def wait_for_text(self, text: str, page=None) -> None:
        page = page or self.page
        page.locator("#message-list li.message[data-id] .message__text", has_text=text).wait_for()

    def counters(self, page=None) -> tuple[str, str, str, str]:
        page = page or self.page
        return tuple(
            page.locator(f"#{name}").text_content()
            for name in ("count-total", "count-total-word", "count-received", "count-sent")
        )

    def assert_nothing_ran(self) -> None:
        for page in self.context.pages:
            assert page.evaluate("window.__pwned") is None
            assert page.locator("#message-list img, #message-list script").count() == 0
        assert self.problems == []


def expected_time(message: Message, zone: str, locale: str) -> str:
    """A message of today as time.js labels it: "сегодня 14:05" / "today 02:05 PM"."""
    local = message.created.astimezone(ZoneInfo(zone))
    assert local.date() == dt.datetime.now(ZoneInfo(zone)).date(), "the test crossed midnight"
    return f"{TEXTS[locale]['today']} {local.strftime(TEXTS[locale]['time'])}"


def spaces(text: str) -> str:
    # Intl puts narrow and no-break spaces before "PM" and in dates.
    return re.sub(r"[\u00a0\u202f]", " ", text)


@needs_cluster
@pytest.mark.parametrize("locale", ["ru-RU", "en-US"])
def test_two_people_chat_live_through_two_processes(people, cluster, browser, locale):
    """Once per language: the browsers' Accept-Language picks the pages' language."""
    thread = people["thread"]
    chat_path = f"/messages/chat/{thread.pk}/"
    anna = Person(browser, cluster.http_url, people["anna"], "Asia/Vladivostok", locale)
    boris = Person(browser, cluster.http_url, people["boris"], "America/New_York", locale)
    anna.log_in(chat_path)
    boris.log_in(chat_path)
    anna.open_chat(thread.pk)
    boris.open_chat(thread.pk)
    assert anna.page.locator("html").get_attribute("lang") == locale[:2]

    # Anna sends with the button; her line shows at once, Boris's without a reload.
    text_a = f"Как дела? {HOSTILE}"
    anna.page.fill("#compose-text", text_a)
    anna.page.click("#compose-send")
    anna.wait_for_text("Как дела?")
    boris.wait_for_text("Как дела?")
    assert anna.page.input_value("#compose-text") == ""
    assert anna.message_texts()[-1] == text_a
    assert boris.message_texts()[-1] == text_a

    # Boris answers with Ctrl+Enter.
    text_b = "Отлично! <b>жирным</b> не будет"
    boris.page.fill("#compose-text", text_b)
    boris.page.press("#compose-text", "Control+Enter")
    anna.wait_for_text("Отлично!")
    boris.wait_for_text("Отлично!")
    assert anna.message_texts() == ["Привет!", text_a, text_b]
    assert boris.message_texts() == ["Привет!", text_a, text_b]

    # The counters moved on both sides, in the language's plural form (ngettext).
    assert anna.counters() == ("3", TEXTS[locale]["3 messages"], "1", "2")
    assert boris.counters() == ("3", TEXTS[locale]["3 messages"], "2", "1")

    # The hostile username is shown as text, and nothing ran anywhere.
    authors = anna.page.locator("#message-list .message__author").all_text_contents()
    assert authors[-1] == people["boris"].username
    anna.assert_nothing_ran()
    boris.assert_nothing_ran()

    # Times: each person's zone and language ("сегодня 14:05" / "today 02:05 PM"),
    # the full time in the tooltip and the UTC time in datetime.
    reply = Message.objects.get(thread=thread, text=text_b)
    anna_times = anna.page.locator("#message-list .message__time").all_text_contents()
    boris_times = boris.page.locator("#message-list .message__time").all_text_contents()
    assert spaces(anna_times[-1]) == expected_time(reply, "Asia/Vladivostok", locale)
    assert spaces(boris_times[-1]) == expected_time(reply, "America/New_York", locale)
    last_time = anna.page.locator("#message-list .message__time").last
    assert last_time.get_attribute("datetime") == reply.created.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert str(reply.created.astimezone(ZoneInfo("Asia/Vladivostok")).year) in (
        last_time.get_attribute("title")
    )

    # A burst from Boris: Anna's view stays on the newest message.
    for n in range(25):
        in_thread(services.message_create, sender=people["boris"], thread=thread, text=f"ещё {n}")
    anna.wait_for_text("ещё 24")
    assert anna.page.evaluate(NEWEST_IN_VIEW)
    assert anna.counters()[0] == "28"

    # Each message is in the database once.
    assert list(Message.objects.filter(thread=thread).values_list("text", flat=True)) == [
        "Привет!",
        text_a,
        text_b,
        *(f"ещё {n}" for n in range(25)),
    ]


@pytest.fixture
def network(site):
    """A connection to the site that the test can cut."""
    proxy = TcpProxy(site.port).start()
    yield proxy
    proxy.stop()


def test_a_dropped_connection_loses_and_duplicates_nothing(people, site, network, browser):
    """Runs on the embedded defaults too: everything goes through the browsers."""
    thread = people["thread"]
    chat_path = f"/messages/chat/{thread.pk}/"
    anna = Person(browser, site.http_url, people["anna"], "Europe/Moscow")
    boris = Person(browser, network.http_url, people["boris"], "Europe/Moscow")
    anna.log_in(chat_path)
    boris.log_in(chat_path)
    anna.open_chat(thread.pk)
    boris.open_chat(thread.pk)

    # Boris's network goes down.
    network.set_online(False)
    boris.page.wait_for_selector("#connection-state:not([hidden])")
    state = boris.page.locator("#connection-state").text_content()
    assert "Нет связи" in state or "Подключение" in state

    # Meanwhile Anna writes, and Boris types a message that cannot go out yet.
    for n in range(3):
        anna.page.fill("#compose-text", f"пока тебя нет {n}")
        anna.page.press("#compose-text", "Control+Enter")
        anna.wait_for_text(f"пока тебя нет {n}")
    boris.page.fill("#compose-text", "написано без связи")
    boris.page.click("#compose-send")
    pending = boris.page.locator("#message-list li.message--pending")
    assert pending.all_text_contents()[0].endswith("написано без связи")
    assert "Неотправленных сообщений: 1" in boris.page.locator("#connection-state").text_content()

    # Reconnect attempts back off exponentially, each wait drawn from the upper
    # half of its cap (jitter), the cap doubling from 0.5 s up to 30 s.
    delays = boris.page.evaluate(
        "() => [...Array(12).keys()].map(a => PMSocket.backoffDelay(a, 500, 30000))"
    )
    for attempt, delay in enumerate(delays):
        cap = min(30_000, 500 * 2**attempt)
        assert cap / 2 <= delay <= cap

    # The network comes back: Boris catches up and his message goes out, once.
    network.set_online(True)
    boris.page.wait_for_selector("#chat[data-connection=synced]", timeout=60_000)
    boris.wait_for_text("написано без связи")
    anna.wait_for_text("написано без связи")
    expected = [
        "Привет!",
        "пока тебя нет 0",
        "пока тебя нет 1",
        "пока тебя нет 2",
        "написано без связи",
    ]
    boris.page.wait_for_function(
        "n => document.querySelectorAll('#message-list li.message[data-id]').length === n",
        arg=len(expected),
    )
    assert boris.message_texts() == expected
    assert anna.message_texts() == expected
    assert boris.page.locator("#message-list li.message--pending").count() == 0
    assert boris.page.locator("#connection-state").is_hidden()
    assert boris.counters() == ("5", "сообщений", "4", "1")
    assert list(Message.objects.filter(thread=thread).values_list("text", flat=True)) == expected


@needs_cluster
def test_thread_list_updates_live(people, cluster, browser):
    thread = people["thread"]
    anna = Person(browser, cluster.http_url, people["anna"], "Europe/Moscow")
    anna.log_in("/messages/")
    anna.page.wait_for_selector("#threads[data-connection=open]")
    other = services.thread_get_or_create_for_pair(
        user=people["anna"], other=make_rt_user("carol")
    )
    in_thread(services.message_create, sender=people["anna"], thread=other, text="старый диалог")
    anna.page.locator(f"li.thread[data-thread-id='{other.pk}']").wait_for()

    # A message in the older thread moves it to the top with its new count.
    in_thread(
        services.message_create, sender=people["boris"], thread=thread, text=f"снова я {HOSTILE}"
    )
    first = anna.page.locator("#thread-list li.thread").first
    first.locator(".thread__count", has_text="2 ").wait_for()
    assert first.get_attribute("data-thread-id") == str(thread.pk)
    assert first.locator(".thread__count").text_content() == "2 сообщения"
    preview = Truncator(f"снова я {HOSTILE}").chars(selectors.PREVIEW_LENGTH)
    assert first.locator(".thread__preview").text_content() == preview
    assert first.locator(".thread__partner").text_content() == people["boris"].username

    # A new thread appears at the top.
    dave = make_rt_user("dave")
    new = in_thread(
        services.message_send_to_username, sender=dave, recipient_username="anna", text="Привет"
    )
    first.locator(".thread__partner", has_text="dave").wait_for()
    assert first.get_attribute("data-thread-id") == str(new.thread_id)
    assert (
        first.locator(".thread__link").get_attribute("href") == f"/messages/chat/{new.thread_id}/"
    )
    assert re.fullmatch(r"сегодня \d\d:\d\d", first.locator(".thread__time").text_content())
    anna.assert_nothing_ran()
