"""
axe-core on every page, in both languages, at desktop and phone size, in the
light and the dark color scheme: no violation of WCAG 2.x level A or AA.

axe-core is the npm package that package.json pins (``npm ci`` installs it;
``make install-dev`` does when npm exists); the test injects it into each page
of a real Chromium. Without it, or without Chromium, the test skips with a
reason, except under CI, where it fails.
"""

import pytest
from django.conf import settings
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from privatemessages.tests import test_browser
from privatemessages.tests.browser_fixtures import BROWSER_TEST_MARKS, in_thread
from privatemessages.tests.browser_pages import (
    LANGUAGES,
    SCREENS,
    new_context,
    open_chat,
    seed_conversation,
)
from privatemessages.tests.realtime_fixtures import make_rt_user, needs_programs

AXE = settings.BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SCHEMES = ["light", "dark"]

pytestmark = [*BROWSER_TEST_MARKS, needs_programs(str(AXE))]

# The site (one process on the embedded defaults, two behind nginx on real
# services) and a network to it that the test can cut: test_browser.py's.
site = test_browser.site
network = test_browser.network

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary),
  }));
}"""


def axe_violations(page, where: str) -> list[str]:
    """Run axe-core on *page* in both color schemes; one line per violation."""
    page.add_script_tag(path=str(AXE))
    found = []
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        for violation in page.evaluate(RUN_AXE, AXE_TAGS):
            nodes = "\n    ".join(violation["nodes"])
            found.append(
                f"{where} [{scheme}] {violation['id']} ({violation['impact']}): "
                f"{violation['help']}\n    {nodes}"
            )
    page.emulate_media(color_scheme="light")
    # Reflow (WCAG 1.4.10): nothing wider than the screen, on a phone too.
    if page.evaluate("() => document.scrollingElement.scrollWidth > window.innerWidth"):
        found.append(f"{where}: the page scrolls sideways")
    return found


def page_brightness(page, scheme: str) -> str:
    """Whether the page's background is light or dark in *scheme*."""
    page.emulate_media(color_scheme=scheme)
    red, green, blue = page.evaluate(
        "() => getComputedStyle(document.body).backgroundColor"
        ".match(/\\d+/g).slice(0, 3).map(Number)"
    )
    page.emulate_media(color_scheme="light")
    return "light" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 128 else "dark"


def show_pending_and_failed(page, network) -> None:
    """
    Put the chat in its less common states: a message the server refused (a
    lone surrogate no column can store) and one waiting while the connection
    is down, with the connection banner.
    """
    page.evaluate("() => { document.getElementById('compose-text').value = 'сломано \\ud800'; }")
    page.click("#compose-send")
    page.locator("#message-list li.message--failed .message__error").wait_for()
    network.set_online(False)
    page.locator("#connection-state").wait_for()
    page.fill("#compose-text", "пока без связи")
    page.click("#compose-send")
    page.locator("#message-list li.message--pending").wait_for()


def seed_skill_partner() -> str:
    """A skill as a chat partner (issue 14): the shipped guess_number, which answers with chips."""
    from skillchat.models import SkillPartner

    partner = SkillPartner.objects.create(
        user=make_rt_user("ugadayka"),
        title="Угадай число",
        description="Отгадывает задуманное число от 1 до 100.",
        mounted_skill="guess_number",
    )
    return partner.user.username


def open_skill_chat(page, username: str) -> None:
    """Write to the skill from the thread list's form; wait for its answer and chips."""
    page.goto("/messages/")
    page.fill("#new-message-recipient", username)
    page.fill("#new-message-text", "привет")
    page.click("#new-message-form button[type=submit]")
    page.wait_for_selector("#chat[data-connection=synced]")
    page.locator("#message-list li.message--partner .bot-chip").first.wait_for(state="attached")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_has_no_wcag_a_or_aa_violations(language, site, network, browser):
    people = in_thread(seed_conversation)
    skill = in_thread(seed_skill_partner)
    thread = people["thread"]
    found: list[str] = []
    for screen in SCREENS:
        where = f"{language}/{screen.name}"

        context = new_context(browser, network.http_url, screen=screen, language=language)
        page = context.new_page()
        page.goto("/accounts/login/")
        assert page.evaluate("document.documentElement.lang") == language
        # The dark theme follows the system's preference.
        assert [page_brightness(page, scheme) for scheme in SCHEMES] == ["light", "dark"]
        found += axe_violations(page, f"{where} log-in")
        # The same page with a refused log-in: the error and the invalid fields.
        page.fill("input[name=username]", "anna")
        page.fill("input[name=password]", "not-her-password")
        page.click("#login-form button[type=submit]")
        page.locator("#login-form .form__errors").wait_for()
        found += axe_violations(page, f"{where} log-in refused")
        page.goto("/accounts/signup/")
        found += axe_violations(page, f"{where} sign-up")
        context.close()

        context = new_context(
            browser, network.http_url, screen=screen, language=language, user=people["anna"]
        )
        page = context.new_page()
        page.goto("/messages/")
        page.wait_for_selector("#threads[data-connection=open]")
        found += axe_violations(page, f"{where} thread list")
        open_chat(page, thread.pk)
        found += axe_violations(page, f"{where} chat")
        show_pending_and_failed(page, network)
        found += axe_violations(page, f"{where} chat, pending and failed")
        network.set_online(True)
        page.goto("/messages/settings/")
        found += axe_violations(page, f"{where} settings")
        page.goto("/timezone/")
        found += axe_violations(page, f"{where} time zone")
        # An older page of the chat (?before=): a plain page, with its way back.
        page.goto(f"/messages/chat/{thread.pk}/?before={people['last'].pk}")
        page.locator("#newest-link").wait_for()
        found += axe_violations(page, f"{where} chat, an older page")
        # The new-message form, refused by the server (no such user): errors, invalid fields.
        page.goto("/messages/")
        page.fill("#new-message-recipient", "nobody-by-this-name")
        page.fill("#new-message-text", "привет")
        page.click("#new-message-form button[type=submit]")
        page.locator("#new-message-recipient[aria-invalid=true]").wait_for()
        found += axe_violations(page, f"{where} new message refused")
        open_skill_chat(page, skill)
        found += axe_violations(page, f"{where} chat with a skill")
        context.close()

    assert not found, "\n".join(found)


# What a screen reader says, in each language (the English catalog's texts).
SAID = {
    "ru": {
        "compose": "Сообщение",
        "log": "Сообщения",
        "sending": "отправляется",
        "new": "Новое сообщение от boris",
    },
    "en": {
        "compose": "Message",
        "log": "Messages",
        "sending": "sending",
        "new": "New message from boris",
    },
}

ANNOUNCED = "() => document.getElementById('pm-announcer').textContent"


def wait_announced(page, text: str) -> None:
    """Wait until the page's polite status region says *text*."""
    try:
        page.wait_for_function(f"(text) => ({ANNOUNCED})() === text", arg=text)
    except PlaywrightTimeoutError:
        said = page.evaluate(ANNOUNCED)
        raise AssertionError(f"the page said {said!r}, not {text!r}") from None


@pytest.mark.parametrize("language", LANGUAGES)
def test_screen_readers_hear_the_log_states_counters_and_list_updates(
    language, site, network, browser
):
    said = SAID[language]
    people = in_thread(seed_conversation)
    thread = people["thread"]
    context = new_context(
        browser, network.http_url, screen=SCREENS[0], language=language, user=people["anna"]
    )
    page = context.new_page()
    # Boris writes from his browser: on the embedded defaults only the server
    # process can reach the pages.
    boris = new_context(
        browser, network.http_url, screen=SCREENS[0], language=language, user=people["boris"]
    ).new_page()
    open_chat(boris, thread.pk)

    def boris_says(text: str) -> None:
        boris.fill("#compose-text", text)
        boris.click("#compose-send")
        boris.locator("#message-list li.message[data-id]", has_text=text).wait_for()

    # The thread list says a new message arrived, once, politely.
    page.goto("/messages/")
    page.wait_for_selector("#threads[data-connection=open]")
    assert page.get_attribute("#pm-announcer", "aria-live") == "polite"
    for text in ("раз", "два"):
        boris_says(text)
    wait_announced(page, said["new"])

    # The chat: the messages are a log, the compose box has a name.
    open_chat(page, thread.pk)
    log = page.get_by_role("log", name=said["log"])
    assert log.locator("#message-list").count() == 1
    assert page.get_by_role("textbox", name=said["compose"], exact=True).count() == 1

    # A message that arrives: the counters are said once it settles.
    boris_says("три")
    page.locator("#message-list .message__text", has_text="три").wait_for()
    counters = " ".join(page.locator(".counters").text_content().split())
    wait_announced(page, counters)

    # The length near the limit is said when typing pauses.
    page.fill("#compose-text", "я" * 9000)
    wait_announced(page, page.locator("#compose-counter").text_content())
    page.fill("#compose-text", "")

    # Pending and refused lines say so in words, not only by their look.
    show_pending_and_failed(page, network)
    pending = page.locator("#message-list li.message--pending")
    assert pending.locator(".message__status").text_content().strip() == f"({said['sending']})"
    failed = page.locator("#message-list li.message--failed")
    assert failed.get_by_role("alert").count() == 1
    assert failed.locator(".message__status").count() == 0
    network.set_online(True)
    page.wait_for_selector("#chat[data-connection=synced]")
    pending_text = page.locator("#message-list li.message", has_text="пока без связи")
    pending_text.locator(".message__receipt").wait_for()
    assert pending_text.locator(".message__status").count() == 0
    boris.context.close()
    context.close()
