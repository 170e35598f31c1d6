"""
Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE and the like) or
right-to-left letters in what people write (messages, usernames, previews)
cannot reorder the page around them: each such element is isolated, on the
server-rendered pages and in the lines the scripts draw live.
"""

import pytest
from django.conf import settings

from privatemessages import services
from privatemessages.tests.browser_fixtures import (
    CHROMIUM,
    WAIT,
    in_thread,
)
from privatemessages.tests.realtime_fixtures import (
    make_rt_user,
    needs_programs,
    needs_real_services,
    session_cookie,
)

RLO = "\u202e"
# Elements that show text people wrote, and the isolation each must have.
ISOLATED = {
    ".site-header__user": "isolate",
    ".chat__partner": "isolate",
    ".message__author": "isolate",
    ".message__text": "plaintext",
    ".thread__partner": "isolate",
    ".thread__preview": "isolate",
}


# The server-rendered pages (no browser)


@pytest.fixture
def rlo_partner(make_user, anna, send):
    """A partner whose name starts with an override, and a message of his that does too."""
    partner = make_user(f"{RLO}boris")
    thread = services.thread_get_or_create_for_pair(user=anna, other=partner)
    send(partner, thread, f"{RLO}Привет!")
    return thread


def test_the_chat_page_marks_written_text_dir_auto(anna_client, rlo_partner, parse_html):
    page = parse_html(anna_client.get(rlo_partner.get_absolute_url()))
    for name in ("chat__partner", "message__author", "message__text", "site-header__user"):
        elements = page.by_class[name]
        assert elements, name
        assert all(element["attrs"].get("dir") == "auto" for element in elements), name


def test_the_thread_list_marks_written_text_dir_auto(anna_client, rlo_partner, parse_html):
    page = parse_html(anna_client.get("/messages/"))
    for name in ("thread__partner", "thread__preview"):
        elements = page.by_class[name]
        assert elements, name
        assert all(element["attrs"].get("dir") == "auto" for element in elements), name


# In a real browser


# How the page draws each element: its computed unicode-bidi and dir attribute.
ISOLATION = """selector => [...document.querySelectorAll(selector)].map(element => [
  getComputedStyle(element).unicodeBidi, element.getAttribute("dir"),
])"""
# Whether, in every message line, the time is drawn to the right of the author.
TIME_AFTER_AUTHOR = """() => [...document.querySelectorAll("#message-list li.message")].map(li => {
  const author = li.querySelector(".message__author").getBoundingClientRect();
  const time = li.querySelector(".message__time").getBoundingClientRect();
  return time.left >= author.right;
})"""


@pytest.fixture
def server(start_servers):
    return start_servers()[0]


@pytest.fixture
def reader(transactional_db):
    return make_rt_user("anna")


@pytest.fixture
def page(server, reader, browser):
    """A Chromium page of the site, logged in as *reader*."""
    name, value = session_cookie(reader).split("=", 1)
    assert name == settings.SESSION_COOKIE_NAME
    context = browser.new_context(
        base_url=server.http_url, locale="ru-RU", timezone_id="Europe/Moscow"
    )
    context.set_default_timeout(WAIT)
    context.add_cookies([{"name": name, "value": value, "url": server.http_url}])
    return context.new_page()


def isolation(page, selector: str) -> list[list]:
    return page.evaluate(ISOLATION, selector)


@pytest.mark.browser
@pytest.mark.servers
@needs_real_services()
@needs_programs(CHROMIUM)
def test_written_text_is_isolated_on_the_chat_page_and_in_live_lines(page, reader):
    boris = make_rt_user(f"{RLO}boris")
    first = services.message_send_to_username(
        sender=boris, recipient_username="anna", text=f"{RLO}Привет!"
    )
    page.goto(first.thread.get_absolute_url())
    page.wait_for_selector("#chat[data-connection=synced]")

    # A line the script draws for the partner's message, and one for anna's own.
    in_thread(services.message_create, sender=boris, thread=first.thread, text=f"{RLO}ещё")
    page.fill("#compose-text", f"{RLO}ответ")
    page.press("#compose-text", "Control+Enter")
    page.wait_for_function("() => document.querySelectorAll('li.message[data-id]').length === 3")

    # The override in the partner's name stops at its end: the time after it
    # stays where it belongs, to the right, in the server's line and the live one.
    assert page.evaluate(TIME_AFTER_AUTHOR) == [True, True, True]
    for selector, value in ISOLATED.items():
        if selector.startswith(".thread"):
            continue
        drawn = isolation(page, selector)
        assert drawn, selector
        assert all(style == [value, "auto"] for style in drawn), (selector, drawn)
    assert page.locator(".site-header__user").text_content() == reader.username


@pytest.mark.browser
@pytest.mark.servers
@needs_real_services()
@needs_programs(CHROMIUM)
def test_written_text_is_isolated_on_the_thread_list_and_in_new_lines(page):
    boris = make_rt_user(f"{RLO}boris")
    services.message_send_to_username(sender=boris, recipient_username="anna", text=f"{RLO}1")
    page.goto("/messages/")
    page.wait_for_selector("#threads[data-connection=open]")

    # A new partner writes: threads.js draws the line.
    carol = make_rt_user(f"{RLO}carol")
    in_thread(
        services.message_send_to_username,
        sender=carol,
        recipient_username="anna",
        text=f"{RLO}новый",
    )
    page.wait_for_function("() => document.querySelectorAll('li.thread').length === 2")

    for selector in (".thread__partner", ".thread__preview"):
        drawn = isolation(page, selector)
        assert len(drawn) == 2, selector
        assert all(style == ["isolate", "auto"] for style in drawn), (selector, drawn)
