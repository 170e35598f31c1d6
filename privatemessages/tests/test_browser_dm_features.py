"""
What two people see of read positions, receipts, typing, presence, older
history, notifications and the compose box's feedback, in real browsers
(headless Chromium driven by Playwright, as in test_browser.py).

Each runs on the embedded defaults (SQLite, in-memory channel layer: one server
process) and, with REDIS_URL and a PostgreSQL DATABASE_URL, on two processes
behind nginx (the ``site`` fixture of test_browser.py).
"""

import re

import pytest

from privatemessages import services, unread
from privatemessages.models import Message
from privatemessages.tests import test_browser
from privatemessages.tests.browser_fixtures import BROWSER_TEST_MARKS, WAIT, in_thread
from privatemessages.tests.realtime_fixtures import PASSWORD, make_rt_user
from privatemessages.tests.test_browser import Person

pytestmark = BROWSER_TEST_MARKS

# The site (one process on the embedded defaults, two behind nginx on real
# services) and a network to it that a test can cut: test_browser.py's fixtures.
site = test_browser.site
network = test_browser.network

# Makes the page think it is hidden or visible (window.__setHidden(true)),
# since a headless browser shows every page, and records the notifications
# the page creates (a headless browser may not display them).
HIDDEN_AND_NOTIFICATIONS = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return hidden ? "hidden" : "visible"; },
  });
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true, get() { return hidden; },
  });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__notes = [];
  const Real = window.Notification;
  if (!Real) return;
  function Recorded(title, options) {
    const {body, tag} = options || {};
    window.__notes.push({title, body, tag});
    try { return new Real(title, options); } catch (error) { return {close() {}}; }
  }
  Object.defineProperty(Recorded, "permission", {get: () => Real.permission});
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
})();
"""


@pytest.fixture
def pair(transactional_db):
    anna = make_rt_user("anna", password=PASSWORD)
    boris = make_rt_user("boris", password=PASSWORD)
    first = services.message_send_to_username(
        sender=anna, recipient_username="boris", text="Привет!"
    )
    return {"anna": anna, "boris": boris, "thread": first.thread}


LAST_READ = """() => document.querySelector(
  "#message-list li.message--own:last-child .message__receipt")?.dataset.state === "read" """


def header_total(page) -> str | None:
    """The header's unread total as shown: None when the badge is hidden."""
    badge = page.locator("#unread-total")
    if badge.is_hidden():
        return None
    return badge.locator(".unread-badge__count").text_content()


def wait_for_total(page, count: int) -> None:
    if count:
        page.wait_for_function(
            """n => {
              const b = document.getElementById("unread-total");
              return !b.hidden && b.dataset.count === String(n)
                && document.title.startsWith(`(${n}) `);
            }""",
            arg=count,
        )
    else:
        page.wait_for_function(
            """() => document.getElementById("unread-total").hidden
                   && !/^\\(\\d+\\) /.test(document.title)"""
        )


def notes_of(*pages) -> list[dict]:
    """The notifications the pages created, all together."""
    return [note for page in pages for note in page.evaluate("window.__notes")]


def wait_for_notes(*pages, count: int) -> list[dict]:
    for _ in range(WAIT // 100):
        notes = notes_of(*pages)
        if len(notes) >= count:
            return notes
        pages[0].wait_for_timeout(100)
    raise AssertionError(f"expected {count} notifications, got {notes_of(*pages)}")


def compose(page, text: str) -> None:
    page.fill("#compose-text", text)
    page.click("#compose-send")


def test_unread_counts_receipts_typing_and_presence(pair, site, browser):
    thread = pair["thread"]
    chat_path = f"/messages/chat/{thread.pk}/"
    anna = Person(browser, site.http_url, pair["anna"], "Europe/Moscow")
    boris = Person(browser, site.http_url, pair["boris"], "Asia/Vladivostok")

    # Boris has one unread message: the header, the tab's title and the line say so.
    boris.log_in("/messages/")
    boris.page.wait_for_selector("#threads[data-connection=open]")
    assert header_total(boris.page) == "1"
    assert boris.page.title().startswith("(1) ")
    line = boris.page.locator(f"li.thread[data-thread-id='{thread.pk}']")
    assert "thread--unread" in line.get_attribute("class")
    assert line.locator(".thread__unread-count").text_content() == "1"

    # Anna has none; her own message shows ✓ (delivered, not read yet).
    anna.log_in(chat_path)
    anna.open_chat(thread.pk)
    assert header_total(anna.page) is None
    assert not anna.page.title().startswith("(")
    receipt = anna.page.locator("#message-list li.message--own .message__receipt").last
    assert receipt.get_attribute("data-state") == "sent"
    assert receipt.text_content() == "✓доставлено"

    # Boris is online (his list is open): Anna's header says so.
    anna.page.locator("#partner-presence", has_text="в сети").wait_for()

    # Anna types: Boris's list does not show it, but her next message counts up live.
    compose(anna.page, "Как дела?")
    anna.wait_for_text("Как дела?")
    wait_for_total(boris.page, 2)
    line.locator(".thread__unread-count", has_text="2").wait_for()
    assert boris.page.locator("#thread-list li.thread").first.get_attribute(
        "data-thread-id"
    ) == str(thread.pk)

    # Boris opens the thread in a second tab: the first tab's counts clear, and
    # Anna sees ✓✓ on both her messages.
    chat_tab = boris.new_page()
    chat_tab.goto(chat_path)
    boris.open_chat(thread.pk, page=chat_tab)
    wait_for_total(boris.page, 0)
    line.locator(".thread__unread").wait_for(state="hidden")
    assert "thread--unread" not in line.get_attribute("class")
    assert header_total(chat_tab) is None
    # The divider marks where the unread messages started, with a jump to it.
    divider = chat_tab.locator("#message-list #unread-divider")
    assert divider.text_content().strip() == "Новые сообщения"
    assert chat_tab.locator("#jump-unread").is_visible()
    assert (
        divider.evaluate("d => d.nextElementSibling.querySelector('.message__text').textContent")
        == "Привет!"
    )
    anna.page.wait_for_function(
        """() => [...document.querySelectorAll("#message-list li.message--own .message__receipt")]
                 .every(r => r.dataset.state === "read")"""
    )
    assert (
        anna.page.locator("#message-list li.message--own .message__receipt").last.text_content()
        == "✓✓прочитано"
    )
    chat_tab.locator("#partner-presence", has_text="в сети").wait_for()

    # Anna types: Boris's chat shows it, and hides it when her message comes.
    # (Slowly: the server passes on one typing frame a second.)
    anna.page.locator("#compose-text").press_sequentially("Сейчас", delay=250)
    chat_tab.locator("#typing-indicator", has_text="печатает…").wait_for()
    assert chat_tab.locator("#typing-indicator").text_content() == "anna печатает…"
    anna.page.press("#compose-text", "Control+Enter")
    boris.wait_for_text("Сейчас", page=chat_tab)
    chat_tab.wait_for_function("() => !document.getElementById('typing-indicator').textContent")

    # Boris's chat is open, visible and at the bottom: it read the new message at
    # once, so no tab of his counts it; Anna sees ✓✓ on it too.
    anna.page.wait_for_function(LAST_READ)
    wait_for_total(boris.page, 0)
    anna.assert_nothing_ran()
    boris.assert_nothing_ran()


def test_a_hidden_chat_leaves_messages_unread_and_notifies_once(pair, site, browser):
    thread = pair["thread"]
    chat_path = f"/messages/chat/{thread.pk}/"
    anna = Person(browser, site.http_url, pair["anna"], "Europe/Moscow")
    boris = Person(browser, site.http_url, pair["boris"], "Europe/Moscow")
    boris.context.grant_permissions(["notifications"])
    boris.context.add_init_script(HIDDEN_AND_NOTIFICATIONS)
    anna.log_in(chat_path)
    anna.open_chat(thread.pk)
    boris.log_in(chat_path)
    boris.open_chat(thread.pk)

    # Notifications are off until Boris turns them on with the header's button.
    toggle = boris.page.locator("#notify-toggle")
    assert toggle.text_content() == "включить уведомления"
    toggle.click()
    toggle.locator("text=выключить уведомления").wait_for()
    assert toggle.get_attribute("aria-pressed") == "true"

    # A second tab with his thread list; the chat tab goes to the background.
    list_tab = boris.new_page()
    list_tab.goto("/messages/")
    list_tab.wait_for_selector("#threads[data-connection=open]")
    boris.page.evaluate("window.__setHidden(true)")

    compose(anna.page, "Ты здесь?")
    anna.wait_for_text("Ты здесь?")
    # A hidden chat does not read: the message stays unread on every tab.
    boris.wait_for_text("Ты здесь?")
    wait_for_total(list_tab, 1)
    wait_for_total(boris.page, 1)
    # One notification for the message, from one of the two tabs.
    notes = wait_for_notes(boris.page, list_tab, count=1)
    list_tab.wait_for_timeout(500)
    assert notes_of(boris.page, list_tab) == notes
    message = Message.objects.get(text="Ты здесь?")
    assert notes == [{"title": "anna", "body": "Ты здесь?", "tag": f"pm-message-{message.pk}"}]

    # Back in front: the chat reads it; a new message shows in it, no notification.
    boris.page.evaluate("window.__setHidden(false)")
    wait_for_total(list_tab, 0)
    compose(anna.page, "Вижу, ты тут")
    boris.wait_for_text("Вижу, ты тут")
    anna.page.wait_for_function(LAST_READ)
    list_tab.wait_for_timeout(500)
    assert len(notes_of(boris.page, list_tab)) == 1
    assert boris.problems == []


def test_a_chat_page_counts_and_notifies_messages_of_other_threads(pair, site, browser):
    """The header total and notifications on a chat page cover the user's other threads."""
    thread = pair["thread"]
    carol = Person(browser, site.http_url, make_rt_user("carol", password=PASSWORD), "UTC")
    boris = Person(browser, site.http_url, pair["boris"], "Europe/Moscow")
    boris.context.grant_permissions(["notifications"])
    boris.context.add_init_script(HIDDEN_AND_NOTIFICATIONS)
    boris.log_in(f"/messages/chat/{thread.pk}/")
    boris.open_chat(thread.pk)
    wait_for_total(boris.page, 0)
    boris.page.click("#notify-toggle")
    boris.page.locator("#notify-toggle", has_text="выключить уведомления").wait_for()

    # Carol writes to Boris (the new-message form), whose only tab shows his
    # chat with Anna, visible.
    carol.log_in("/messages/")
    carol.page.fill("#new-message-recipient", "boris")
    carol.page.fill("#new-message-text", "Это Кэрол")
    carol.page.click("#new-message-form button[type=submit]")
    carol.page.wait_for_url("**/messages/chat/*/")
    wait_for_total(boris.page, 1)
    message = Message.objects.get(text="Это Кэрол")
    assert wait_for_notes(boris.page, count=1) == [
        {"title": "carol", "body": "Это Кэрол", "tag": f"pm-message-{message.pk}"}
    ]
    assert boris.problems == []
    assert carol.problems == []


@pytest.fixture
def long_thread(pair):
    for n in range(150):
        sender = pair["boris"] if n % 2 else pair["anna"]
        services.message_create(sender=sender, thread=pair["thread"], text=f"№ {n}")
    return pair["thread"]


def test_scrolling_up_loads_older_history(pair, long_thread, site, browser):
    thread = long_thread
    anna = Person(browser, site.http_url, pair["anna"], "Europe/Moscow")
    anna.log_in(f"/messages/chat/{thread.pk}/")
    anna.open_chat(thread.pk)
    page = anna.page
    texts = ["Привет!", *(f"№ {n}" for n in range(150))]
    assert anna.message_texts() == texts[-100:]
    assert page.locator("#older-link").is_visible()

    # To the top: the previous 51 come, above; what was on screen stays put.
    page.evaluate(
        """() => {
          const first = document.querySelector("#message-list li[data-id]");
          window.__anchor = first;
          first.scrollIntoView({block: "start"});
          window.__anchorTop = first.getBoundingClientRect().top;
        }"""
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#message-list li[data-id]').length === 151"
    )
    assert anna.message_texts() == texts
    assert page.locator("#older-link").count() == 0
    moved = page.evaluate("() => window.__anchor.getBoundingClientRect().top - window.__anchorTop")
    assert abs(moved) < 2
    # Older lines carry their ticks like the rest; the counters are the thread's.
    assert page.locator("#message-list li.message--own .message__receipt").count() == 76
    assert anna.counters()[0] == "151"

    # Without JavaScript the link opens the earlier page, which links back.
    plain = browser.new_context(java_script_enabled=False, base_url=site.http_url)
    plain.add_cookies(anna.context.cookies())
    no_js = plain.new_page()
    no_js.goto(f"/messages/chat/{thread.pk}/")
    no_js.click("#older-link")
    assert re.search(r"\?before=\d+$", no_js.url)
    shown = no_js.locator("#message-list .message__text").all_text_contents()
    assert shown == texts[:51]
    no_js.click("#newest-link")
    assert no_js.url.endswith(f"/messages/chat/{thread.pk}/")
    plain.close()
    assert anna.problems == []


def test_compose_feedback_refusals_and_reconnect(pair, site, network, browser):
    thread = pair["thread"]
    chat_path = f"/messages/chat/{thread.pk}/"
    anna = Person(browser, network.http_url, pair["anna"], "Europe/Moscow")
    anna.log_in(chat_path)
    anna.open_chat(thread.pk)
    page = anna.page
    error = page.locator("#compose-error")

    # Only spaces: not sent, and the page says why.
    compose(page, "   \n  ")
    error.wait_for()
    assert "пустое" in error.text_content()
    assert page.locator("#message-list li.message--pending").count() == 0

    # Near the limit a counter shows; past it nothing is cut and nothing is sent.
    counter = page.locator("#compose-counter")
    page.fill("#compose-text", "я" * 9000)
    assert counter.text_content() == "9\u00a0000 / 10\u00a0000"
    page.fill("#compose-text", "я" * 10_001)
    assert len(page.input_value("#compose-text")) == 10_001
    assert "compose__counter--over" in counter.get_attribute("class")
    page.click("#compose-send")
    assert "длиннее" in error.text_content()
    assert page.locator("#message-list li.message--pending").count() == 0
    page.fill("#compose-text", "")
    counter.wait_for(state="hidden")

    # A message the server refuses (a lone surrogate no column can store) says
    # why under the bubble, with "повторить" and "удалить".
    page.evaluate("() => { document.getElementById('compose-text').value = 'сломано \\ud800'; }")
    page.click("#compose-send")
    failed = page.locator("#message-list li.message--failed")
    failed.locator(".message__error").wait_for()
    assert "недопустимые символы" in failed.locator(".message__error").text_content()
    assert failed.locator("button", has_text="повторить").is_visible()
    assert failed.locator("button", has_text="удалить").is_visible()

    # A later message goes below it, not above.
    compose(page, "а это дойдёт")
    anna.wait_for_text("а это дойдёт")
    assert (
        page.locator("#message-list li.message").last.locator(".message__text").text_content()
        == "а это дойдёт"
    )
    # "повторить" sends it again (refused again: still one failed line), "удалить" removes it.
    failed.locator("button", has_text="повторить").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#message-list .message--failed .message__error')"
        ".length === 1"
    )
    page.locator("#message-list li.message--failed button", has_text="удалить").click()
    assert page.locator("#message-list li.message--failed").count() == 0

    # Offline: the banner offers to connect now. A message typed meanwhile is
    # confirmed with the server's time and says it was sent later.
    network.set_online(False)
    state = page.locator("#connection-state")
    state.wait_for()
    compose(page, "написано без связи")
    page.wait_for_timeout(6_000)
    # A wait of several seconds ahead: the button must not wait for it.
    page.wait_for_function(
        """() => {
          const m = /через (\\d+) с/.exec(document.getElementById("connection-state").textContent);
          return m && Number(m[1]) >= 4;
        }""",
        timeout=60_000,
    )
    button = state.locator("button", has_text="подключиться сейчас")
    assert button.is_visible()
    network.set_online(True)
    button.click()
    page.wait_for_selector("#chat[data-connection=synced]", timeout=4_000)
    anna.wait_for_text("написано без связи")
    late = page.locator("#message-list li.message", has_text="написано без связи")
    assert late.locator(".message__late").text_content() == "отправлено позже"
    saved = Message.objects.get(text="написано без связи")
    assert late.locator("time").get_attribute("datetime") == saved.created.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert state.is_hidden()
    assert anna.problems == []


def test_username_suggestions_and_settings_page(pair, site, browser):
    make_rt_user("borislav")
    make_rt_user("bob")
    anna = Person(browser, site.http_url, pair["anna"], "Europe/Moscow")
    anna.log_in("/messages/")
    page = anna.page
    page.locator("#new-message-recipient").press_sequentially("bor", delay=30)
    page.wait_for_function(
        """() => [...document.querySelectorAll("#known-partners option")]
                 .map(o => o.value).includes("borislav")"""
    )
    options = page.locator("#known-partners option").evaluate_all("os => os.map(o => o.value)")
    assert "bob" not in options
    assert "anna" not in options

    # Only spaces: the form says so instead of sending.
    page.fill("#new-message-recipient", "borislav")
    page.fill("#new-message-text", "  \n ")
    page.click("#new-message-form button[type=submit]")
    check = page.locator("#new-message-text-check")
    check.wait_for()
    assert "пустое" in check.text_content()
    assert page.url.endswith("/messages/")

    # The settings page: a plain form; the header total shows on it too.
    in_thread(
        services.message_send_to_username,
        sender=pair["boris"],
        recipient_username="anna",
        text="ответ",
    )
    page.goto("/messages/settings/")
    assert header_total(page) == "1"
    assert page.title().startswith("(1) ")

    # Boris read her message, which her chat shows (✓✓)...
    thread = pair["thread"]
    first = Message.objects.get(thread=thread, text="Привет!")
    in_thread(
        unread.thread_mark_read, user_id=pair["boris"].pk, thread_id=thread.pk, up_to=first.pk
    )
    receipt = page.locator(f"#message-list li[data-id='{first.pk}'] .message__receipt")
    page.goto(f"/messages/chat/{thread.pk}/")
    assert receipt.get_attribute("data-state") == "read"

    # ...until she stops sending receipts: then she sees none either.
    page.goto("/messages/settings/")
    page.uncheck("input[name=send_receipts]")
    page.click("#settings-form button[type=submit]")
    page.wait_for_url("**/messages/settings/")
    assert not page.is_checked("input[name=send_receipts]")
    assert page.is_checked("input[name=show_presence]")
    page.goto(f"/messages/chat/{thread.pk}/")
    assert receipt.get_attribute("data-state") == "sent"
    assert anna.problems == []
