"""
The keepalive in a real browser (headless Chromium, as in test_browser.py): the
page sends no heartbeat, the server's visits keep its socket open, and a
connection that goes silent (half-open: nothing arrives, nothing closes) is
given up and replaced. The server visits every second here, so the page takes
two silent seconds for dead.
"""

import json

import pytest

from privatemessages import services
from privatemessages.tests.browser_fixtures import BROWSER_TEST_MARKS
from privatemessages.tests.realtime_fixtures import PASSWORD, make_rt_user
from privatemessages.tests.servers import ServerProcess, TcpProxy, free_port, server_env
from privatemessages.tests.test_browser import Person

pytestmark = BROWSER_TEST_MARKS


@pytest.fixture
def site(transactional_db, tmp_path):
    server = ServerProcess(
        free_port(), tmp_path, server_env(PRIVATEMESSAGES_KEEPALIVE_EVERY="1")
    ).start()
    yield server
    server.stop()


@pytest.fixture
def network(site):
    proxy = TcpProxy(site.port).start()
    yield proxy
    proxy.stop()


def test_the_server_keeps_a_quiet_page_connected_and_a_silent_link_is_replaced(
    transactional_db, site, network, browser
):
    anna = make_rt_user("anna", password=PASSWORD)
    make_rt_user("boris", password=PASSWORD)
    thread = services.message_send_to_username(
        sender=anna, recipient_username="boris", text="Привет!"
    ).thread
    person = Person(browser, network.http_url, anna, "Europe/Moscow")
    sockets, sent, received = [], [], []

    def watch(ws) -> None:
        sockets.append(ws)
        ws.on("framesent", lambda frame: sent.append(json.loads(frame)["type"]))
        ws.on("framereceived", lambda frame: received.append(json.loads(frame)["type"]))

    person.page.on("websocket", watch)
    person.log_in(f"/messages/chat/{thread.pk}/")
    person.open_chat(thread.pk)
    person.page.wait_for_timeout(500)  # the opening frames (activity, sync, read) go out
    first, opening, answers = len(sockets), len(sent), received.count("synced")

    # Five seconds of nothing to do: the page sends nothing, the server's visits
    # arrive, and the socket is never replaced.
    person.page.wait_for_timeout(5000)
    assert len(sockets) == first
    assert sent[opening:] == []
    assert received.count("synced") - answers >= 3
    assert person.page.locator("#chat").get_attribute("data-connection") == "synced"

    # The link goes silent without closing: the page gives it up and says so.
    network.set_stalled(True)
    person.page.wait_for_selector("#connection-state:not([hidden])")
    # It comes back: the page has reconnected, on a new socket, and caught up.
    network.set_stalled(False)
    person.page.wait_for_selector("#chat[data-connection=synced]")
    assert len(sockets) > first
    person.assert_nothing_ran()
