"""
The languages in a real browser: times as people read them (time.js: "сегодня 14:05" /
"today 02:05 PM", "вчера" / "yesterday", then the date, in the page's language and the
browser's zone; the full time in the tooltip, the UTC time in ``datetime``), and the
header's language switcher. Chromium against one server process (the embedded defaults
are enough). The chat's main flow in both languages is in test_browser.py.
"""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from privatemessages import services
from privatemessages.models import Message, Thread
from privatemessages.tests.browser_fixtures import BROWSER_TEST_MARKS, WAIT
from privatemessages.tests.realtime_fixtures import PASSWORD, make_rt_user
from privatemessages.tests.servers import ServerProcess, free_port, server_env

pytestmark = BROWSER_TEST_MARKS

ZONE = "Europe/Berlin"
LONG_AGO = dt.datetime(2025, 3, 4, 10, 20, tzinfo=dt.UTC)  # a Tuesday; 11:20 in Berlin


@pytest.fixture
def site(transactional_db, tmp_path):
    server = ServerProcess(free_port(), tmp_path, server_env())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def anna(transactional_db):
    """Anna, with threads whose last messages are from now, a day ago and long ago."""
    anna = make_rt_user(password=PASSWORD)
    now = dt.datetime.now(dt.UTC)
    for age in (dt.timedelta(0), dt.timedelta(days=1), now - LONG_AGO):
        partner = make_rt_user()
        sent = services.message_send_to_username(
            sender=partner, recipient_username=anna.username, text="привет"
        )
        Message.objects.filter(pk=sent.pk).update(created=now - age)
        Thread.objects.filter(pk=sent.thread_id).update(last_message=now - age)
    return anna


def times_on_the_thread_list(browser, site, anna, locale: str) -> list[dict]:
    context = browser.new_context(locale=locale, timezone_id=ZONE, base_url=site.http_url)
    context.set_default_timeout(WAIT)
    page = context.new_page()
    page.goto("/accounts/login/?next=/messages/")
    page.fill("input[name=username]", anna.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/messages/")
    page.wait_for_selector("#threads[data-connection=open]")
    found = page.eval_on_selector_all(
        ".thread__time",
        "els => els.map(el => ({text: el.textContent, title: el.title, utc: el.dateTime}))",
    )
    context.close()
    for time in found:
        time["text"] = re.sub(r"[\u00a0\u202f]", " ", time["text"])  # Intl's narrow spaces
    return found


def clock(moment: dt.datetime, locale: str) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%H:%M" if locale == "ru-RU" else "%I:%M %p")


@pytest.mark.parametrize(
    ("locale", "today", "yesterday", "long_ago", "weekday"),
    [
        ("ru-RU", "сегодня", "вчера", r"4 мар\. 2025 г\., 11:20", "вторник"),
        ("en-US", "today", "yesterday", r"Mar 4, 2025, 11:20 AM", "Tuesday"),
    ],
)
def test_times_read_as_today_yesterday_then_the_date(
    browser, site, anna, locale, today, yesterday, long_ago, weekday
):
    found = times_on_the_thread_list(browser, site, anna, locale)
    newest, day_ago, oldest = (
        Message.objects.filter(thread__participants=anna).order_by("-created")[i].created
        for i in range(3)
    )
    assert [time["utc"] for time in found] == [
        moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (newest, day_ago, oldest)
    ]
    assert found[0]["text"] == f"{today} {clock(newest, locale)}"
    assert found[1]["text"] == f"{yesterday} {clock(day_ago, locale)}"
    assert re.fullmatch(long_ago, found[2]["text"])
    # The full time in the tooltip: the weekday, the year, the seconds.
    assert weekday in found[2]["title"]
    assert "2025" in found[2]["title"]
    assert "11:20:00" in found[2]["title"]


def test_the_header_switcher_changes_the_language_for_good(browser, site, anna):
    """A Russian browser picks English in the header; the choice outlives the page."""
    context = browser.new_context(locale="ru-RU", timezone_id=ZONE, base_url=site.http_url)
    context.set_default_timeout(WAIT)
    page = context.new_page()
    page.goto("/accounts/login/?next=/messages/")
    assert page.locator("html").get_attribute("lang") == "ru"
    page.locator(".site-header__language button[lang=en]").click()
    page.wait_for_url("**/accounts/login/?next=/messages/")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.locator("h1").text_content() == "Sign in"
    page.fill("input[name=username]", anna.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/messages/")
    page.wait_for_selector("#threads[data-connection=open]")
    assert page.locator("h1").text_content() == "Conversations"
    # The scripts speak it too: the catalog followed the switch.
    assert page.evaluate("gettext('в сети')") == "online"
    assert page.locator(".thread__time").first.text_content().startswith("today ")
    context.close()


def test_a_page_left_open_past_midnight_relabels_its_times(browser, site, anna):
    newest = Message.objects.filter(thread__participants=anna).latest("created").created
    local = newest.astimezone(ZoneInfo(ZONE))
    before_midnight = local.replace(hour=23, minute=58, second=0, microsecond=0)
    context = browser.new_context(locale="en-US", timezone_id=ZONE, base_url=site.http_url)
    context.set_default_timeout(WAIT)
    page = context.new_page()
    page.clock.install(time=before_midnight.timestamp())
    page.goto("/accounts/login/?next=/messages/")
    page.fill("input[name=username]", anna.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/messages/")
    first = page.locator(".thread__time").first
    assert first.text_content().startswith("today ")
    page.clock.fast_forward("05:00")  # 00:03 the next day
    page.wait_for_function(
        "() => document.querySelector('.thread__time').textContent.startsWith('yesterday ')"
    )
    context.close()
