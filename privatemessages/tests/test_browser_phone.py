"""
The chat on a phone (390 × 844, touch) and by keyboard alone, in a real
Chromium: the page itself never scrolls (the message list does), the site
header is one row, the send button stays above an on-screen keyboard, the
Ctrl+Enter hint is left out on touch screens; Tab reaches every control of
the chat, each showing where the focus is.
"""

import pytest

from privatemessages import services
from privatemessages.tests import test_browser
from privatemessages.tests.browser_fixtures import BROWSER_TEST_MARKS, in_thread
from privatemessages.tests.browser_pages import (
    DESKTOP,
    LANGUAGES,
    PHONE,
    new_context,
    open_chat,
    seed_conversation,
)

pytestmark = BROWSER_TEST_MARKS

site = test_browser.site

PAGE_SCROLLS = "() => document.scrollingElement.scrollHeight > window.innerHeight"

# The top of every visible part of the site header, and the header's height.
HEADER_LINES = """() => {
  const header = document.querySelector(".site-header__inner");
  const parts = [...header.querySelectorAll(":scope > *, .site-header__nav > *")]
    .filter((el) => el.getClientRects().length && !el.classList.contains("site-header__nav"));
  return {
    height: header.getBoundingClientRect().height,
    tops: parts.map((el) => Math.round(el.getBoundingClientRect().top)),
    tallest: Math.max(...parts.map((el) => el.getBoundingClientRect().height)),
  };
}"""

SEND_BUTTON_BOTTOM = """() => ({
  bottom: document.getElementById("compose-send").getBoundingClientRect().bottom,
  visible: window.visualViewport.height,
})"""

# What has the focus, and whether it shows: an outline or a ring (box-shadow).
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return {
    id: el.id,
    tag: el.tagName.toLowerCase(),
    cls: el.className,
    href: el.getAttribute("href"),
    shown: outline || style.boxShadow !== "none",
  };
}"""


def long_conversation():
    """The seed's conversation and enough more that the message list must scroll on a phone."""
    people = seed_conversation()
    for n in range(30):
        services.message_create(
            sender=people["boris" if n % 2 else "anna"], thread=people["thread"], text=f"ещё {n}"
        )
    return people


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_chat_fits_a_phone_screen_with_the_keyboard_open(language, site, browser):
    people = in_thread(long_conversation)
    context = new_context(
        browser, site.http_url, screen=PHONE, language=language, user=people["anna"]
    )
    page = context.new_page()
    open_chat(page, people["thread"].pk)

    # The page fits the screen; the message list scrolls inside it.
    assert not page.evaluate(PAGE_SCROLLS)
    assert page.evaluate(
        "() => { const s = document.querySelector('.chat__scroller');"
        " return s.scrollHeight > s.clientHeight; }"
    )
    assert page.locator("#compose-send").bounding_box()["y"] + 1 < PHONE.height

    # The site header is one row: every part of it on the same line.
    header = page.evaluate(HEADER_LINES)
    assert max(header["tops"]) - min(header["tops"]) < header["tallest"] / 2, header
    assert header["height"] < 2 * header["tallest"], header

    # No Ctrl+Enter on a touch screen.
    assert page.locator("#compose-text").is_visible()
    assert page.locator("#compose-hint").is_hidden()

    # The on-screen keyboard takes the bottom of the screen (as Chrome does it:
    # the viewport shrinks): the send button is still above it, and the page
    # still does not scroll.
    page.locator("#compose-text").tap()
    page.set_viewport_size({"width": PHONE.width, "height": 500})
    page.wait_for_function("() => window.visualViewport.height === 500")
    page.wait_for_function(
        "() => document.getElementById('compose-send').getBoundingClientRect().bottom"
        " <= window.visualViewport.height"
    )
    box = page.evaluate(SEND_BUTTON_BOTTOM)
    assert box["bottom"] <= box["visible"], box
    assert not page.evaluate(PAGE_SCROLLS)
    assert page.evaluate("() => document.activeElement.id") == "compose-text"
    context.close()


# Safari's keyboard covers the page without resizing it: only the visual
# viewport shrinks. A stand-in visual viewport whose height the test sets.
SAFARI_KEYBOARD = """
(() => {
  const listeners = [];
  const viewport = {
    height: %d, width: %d, scale: 1, offsetTop: 0, offsetLeft: 0,
    addEventListener(type, listener) { if (type === "resize") listeners.push(listener); },
    removeEventListener() {},
  };
  Object.defineProperty(window, "visualViewport", {configurable: true, get: () => viewport});
  window.__keyboardLeaves = (height) => {
    viewport.height = height;
    listeners.forEach((listener) => listener(new Event("resize")));
  };
})();
"""


def test_the_send_button_stays_above_a_keyboard_that_only_covers_the_page(site, browser):
    people = in_thread(seed_conversation)
    context = new_context(browser, site.http_url, screen=PHONE, language="ru", user=people["anna"])
    context.add_init_script(SAFARI_KEYBOARD % (PHONE.height, PHONE.width))
    page = context.new_page()
    open_chat(page, people["thread"].pk)
    page.locator("#compose-text").tap()
    page.evaluate("() => window.__keyboardLeaves(480)")
    page.wait_for_function(
        "() => document.getElementById('compose-send').getBoundingClientRect().bottom <= 480"
    )
    assert page.locator("#compose-text").bounding_box()["y"] > 0
    assert page.locator("#message-list li.message").last.is_visible()
    context.close()


def tab_round(page) -> list[dict]:
    """Tab once round the page; what got the focus, each showing it (or the test fails)."""
    focused = []
    for _ in range(60):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if focused and now == focused[0]:
            break
        focused.append(now)
    hidden_focus = [f for f in focused if not f["shown"] and f["tag"] != "body"]
    assert hidden_focus == [], hidden_focus
    return focused


def test_tab_reaches_every_control_and_shows_the_focus(site, browser):
    people = in_thread(seed_conversation)
    context = new_context(
        browser, site.http_url, screen=DESKTOP, language="ru", user=people["anna"]
    )
    page = context.new_page()
    open_chat(page, people["thread"].pk)
    # A keyboard user has Ctrl+Enter; the hint says so.
    assert page.locator("#compose-hint").is_visible()

    focused = tab_round(page)
    reached = {f["id"] for f in focused if f["id"]}
    assert {"compose-text", "compose-send", "jump-unread"} <= reached, focused
    classes = " ".join(f["cls"] for f in focused)
    # The header's links and buttons, the way back, and the message log (it scrolls).
    for part in ("site-header__brand", "site-header__link", "chat__back", "chat__scroller"):
        assert part in classes, (part, focused)

    # Typed and sent with the keyboard alone.
    page.focus("#compose-text")
    page.keyboard.type("с клавиатуры")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "compose-send"
    page.keyboard.press("Enter")
    page.locator(
        "#message-list li.message[data-id] .message__text", has_text="с клавиатуры"
    ).wait_for()

    # The other pages: every control reached shows its focus too.
    page.goto("/messages/")
    focused = tab_round(page)
    assert {"new-message-recipient", "new-message-text"} <= {f["id"] for f in focused}
    assert any("thread__link" in f["cls"] for f in focused), focused
    page.goto("/messages/settings/")
    assert any(f["tag"] == "input" for f in tab_round(page))
    context.close()
