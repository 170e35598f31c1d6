"""
What a person sees (headless Chromium, as in test_browser.py) when a tab is one
socket too many, and when the session ends in another tab.
"""

import re

import pytest

from privatemessages.tests.browser_fixtures import BROWSER_TEST_MARKS
from privatemessages.tests.realtime_fixtures import PASSWORD, make_rt_user
from privatemessages.tests.test_browser import Person

pytestmark = BROWSER_TEST_MARKS


@pytest.fixture
def one_socket_site(start_servers):
    """One server process that lets a user have one socket open."""
    return start_servers(PRIVATEMESSAGES_USER_MAX_SOCKETS="1")[0]


def test_a_tab_too_many_waits_long_and_logging_out_ends_the_other_tab(
    one_socket_site,
    browser,
):
    """The second chat tab is refused (4429): it says why and waits 15 s or more before
    trying again. Logging out in it ends the first tab's socket too (4401): that tab asks
    to sign in again."""
    from privatemessages import services

    anna = make_rt_user("anna", password=PASSWORD)
    boris = make_rt_user("boris", password=PASSWORD)
    thread = services.message_send_to_username(
        sender=anna, recipient_username=boris.username, text="Привет!"
    ).thread
    person = Person(browser, one_socket_site.http_url, anna, "Europe/Moscow")
    chat_path = f"/messages/chat/{thread.pk}/"
    person.log_in(chat_path)
    person.open_chat(thread.pk)

    second = person.new_page()
    second.goto(chat_path)
    state = second.locator("#connection-state")
    state.wait_for()
    second.wait_for_function(
        "() => document.getElementById('connection-state').textContent.includes('вкладок')"
    )
    seconds = int(re.search(r"через (\d+) с", state.text_content()).group(1))
    assert seconds >= 14

    second.click(".site-header__logout button")
    second.wait_for_url("**/accounts/login/**")
    person.page.wait_for_function(
        "() => document.getElementById('connection-state').textContent.includes('Сеанс')"
    )
    assert person.page.locator("#chat").get_attribute("data-connection") == "refused"
    assert person.problems == []
