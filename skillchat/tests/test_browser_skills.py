"""
A user talks to skills in a real browser (headless Chromium driven by Playwright, as in
privatemessages/tests/test_browser.py), through the site's server processes: one on the
embedded defaults, two behind nginx with REDIS_URL and a PostgreSQL DATABASE_URL.

The server processes run browser_settings.py: the shipped guess_number script, held by a
file while the test wants to watch the skill typing (browser_skills.py), and the cards
skill of the socket tests. Nothing is timed: each step waits for what the page shows.
"""

import re

import pytest

from privatemessages.models import Message
from privatemessages.tests import conftest as pm_conftest
from privatemessages.tests.browser_fixtures import BROWSER_TEST_MARKS
from privatemessages.tests.realtime_fixtures import PASSWORD, make_rt_user
from privatemessages.tests.servers import Cluster, ServerProcess, free_port, server_env
from privatemessages.tests.test_browser import REAL_SERVICES, Person
from skillchat.models import SkillPartner
from skillchat.tests.browser_skills import HOLD_ENV

pytestmark = BROWSER_TEST_MARKS

browser = pm_conftest.browser

SKILL_LINES = "#message-list li.message--partner[data-id]"
TYPING_OFF = "() => !document.getElementById('typing-indicator').classList.contains('typing--on')"
# A line's card and chips, with each element's attributes in one order: what the page
# drew live (bot_message.js) is then comparable with what the server renders.
BOT_PARTS = """lines => lines.map(li => {
  const parts = li.querySelectorAll(".bot-card, .bot-buttons");
  const canon = el => {
    const attrs = Array.from(el.attributes).map(a => `${a.name}=${a.value}`).sort();
    const kids = Array.from(el.childNodes).map(
      n => n.nodeType === Node.TEXT_NODE ? n.textContent.trim() : canon(n)
    ).filter(Boolean);
    return `<${el.tagName} ${attrs.join(" ")}>${kids.join("")}</${el.tagName}>`;
  };
  return Array.from(parts).map(canon).join("");
})"""


@pytest.fixture
def skill_people(transactional_db):
    anna = make_rt_user("anna", password=PASSWORD)
    guesser = SkillPartner.objects.create(
        user=make_rt_user("ugadayka"),
        title="Угадай число",
        description="Отгадывает задуманное число от 1 до 100.",
        mounted_skill="held_guess_number",
    )
    cards = SkillPartner.objects.create(
        user=make_rt_user("kartochki"),
        title="Карточки",
        description="Показывает картинку, список и галерею.",
        mounted_skill="cards",
    )
    return {"anna": anna, "guesser": guesser, "cards": cards}


@pytest.fixture
def hold(tmp_path):
    """While this file exists, the held guess_number waits before answering."""
    path = tmp_path / "hold"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def skill_site(skill_people, hold, tmp_path):
    """The site with the test's skills: a cluster on real services, else one process."""
    env = server_env(
        DJANGO_SETTINGS_MODULE="skillchat.tests.browser_settings", **{HOLD_ENV: str(hold)}
    )
    if REAL_SERVICES:
        server = Cluster(2, tmp_path, env)
    else:
        server = ServerProcess(free_port(), tmp_path, env)
    server.start()
    yield server
    server.stop()


def skill_person(browser, site, user) -> Person:
    person = Person(browser, site.http_url, user, "Europe/Moscow")
    # Card pictures are Dialogs' addresses: not fetched from the test.
    person.context.route("https://avatars.mds.yandex.net/**", lambda route: route.abort())
    return person


def start_conversation(person: Person, username: str, text: str) -> int:
    """From the skills list of /messages/: the username into the form, a first message."""
    page = person.page
    page.locator(f"#skills a.skill__username[data-username='{username}']").click()
    assert page.input_value("#new-message-recipient") == username
    assert page.evaluate("document.activeElement.id") == "new-message-text"
    page.fill("#new-message-text", text)
    page.click("#new-message-form button[type=submit]")
    page.wait_for_url(re.compile(r"/messages/chat/\d+/$"))
    thread_id = int(re.search(r"/chat/(\d+)/$", page.url).group(1))
    person.open_chat(thread_id)
    return thread_id


def skill_lines(page):
    return page.locator(SKILL_LINES)


def wait_for_skill_lines(page, count: int) -> None:
    page.wait_for_function(
        "([selector, n]) => document.querySelectorAll(selector).length >= n",
        arg=[SKILL_LINES, count],
    )


def newest_skill_text(page) -> str:
    return skill_lines(page).last.locator(".message__text").text_content()


def tap(page, title: str) -> None:
    """Tap the chip *title* of the skill's newest message."""
    skill_lines(page).last.locator("button.bot-chip", has_text=title).click()


def visible_chips(page) -> list[str]:
    return page.locator("#message-list .bot-chip:visible").all_text_contents()


def test_a_user_plays_guess_number_to_the_end_with_chips(skill_people, hold, skill_site, browser):
    anna = skill_person(browser, skill_site, skill_people["anna"])
    anna.log_in("/messages/")
    anna.page.wait_for_selector("#threads[data-connection=open]")
    # Another tab on the list: the new thread appears there live, marked.
    watcher = anna.new_page()
    watcher.goto("/messages/")
    watcher.wait_for_selector("#threads[data-connection=open]")

    # The skills one can write to: username, mark, title, description.
    skill = anna.page.locator("#skills li.skill", has_text="ugadayka")
    assert skill.locator(".skill-mark").text_content() == "навык"
    assert skill.locator(".skill__title").text_content() == "Угадай число"
    assert "от 1 до 100" in skill.locator(".skill__description").text_content()
    thread_id = start_conversation(anna, "ugadayka", "Привет!")
    page = anna.page

    # The header marks the partner as a skill and offers a restart.
    assert page.locator(".chat__header .skill-mark").text_content() == "навык"
    assert page.locator("#skill-restart button[type=submit]").is_visible()
    line = watcher.locator(f"li.thread[data-thread-id='{thread_id}'] .thread__partner")
    line.wait_for()
    assert line.get_attribute("data-mark") == "навык"

    # The greeting, with its suggest chip.
    wait_for_skill_lines(page, 1)
    skill_lines(page).last.locator(".message__text", has_text="Загадайте число").wait_for()
    greeting_id = int(skill_lines(page).last.get_attribute("data-id"))
    greeting = page.locator(f"#message-list li[data-id='{greeting_id}']")
    assert visible_chips(page) == ["Готов"]

    # The skill is held: a tap shows the user's line at once, the chip goes, the skill types.
    hold.touch()
    tap(page, "Готов")
    own = page.locator("#message-list li.message--own").last
    assert own.locator(".message__text").text_content() == "Готов"
    greeting.locator("button.bot-chip", has_text="Готов").wait_for(state="hidden")
    typing = page.locator("#typing-indicator.typing--on")
    typing.wait_for()
    assert typing.text_content() == "ugadayka печатает…"
    assert skill_lines(page).count() == 1  # still held: no answer yet
    hold.unlink()
    wait_for_skill_lines(page, 2)
    page.wait_for_function(TYPING_OFF)

    # The tap was sent as the greeting's button: its title, and the reference (server side).
    confirmed = page.locator("#message-list li.message--own[data-id]", has_text="Готов")
    confirmed.wait_for()
    tapped = Message.objects.get(pk=int(confirmed.get_attribute("data-id")))
    assert (tapped.text, tapped.attachments) == (
        "Готов",
        {"button": {"message_id": greeting_id, "index": 0}},
    )

    # Binary search for 37 with "Да" and "Нет": only the newest question's chips show.
    secret = 37
    for asked in range(2, 12):
        text = newest_skill_text(page)
        if text.startswith("Думаю"):
            break
        number = int(re.search(r"больше (\d+)\?", text).group(1))
        assert visible_chips(page) == ["Да", "Нет"]
        tap(page, "Да" if secret > number else "Нет")
        wait_for_skill_lines(page, asked + 1)
    assert newest_skill_text(page) == f"Думаю, вы загадали число {secret}!"

    # The end: a quiet system line after it, and no chips left.
    end_line = skill_lines(page).last
    assert end_line.evaluate("li => li.nextElementSibling.className") == "messages__system"
    assert end_line.evaluate("li => li.nextElementSibling.textContent") == "диалог завершён"
    assert visible_chips(page) == []

    # A reload shows the same: the end line, the old suggests hidden.
    page.reload()
    anna.open_chat(thread_id)
    end_line = skill_lines(page).last
    assert newest_skill_text(page) == f"Думаю, вы загадали число {secret}!"
    assert end_line.evaluate("li => li.nextElementSibling.textContent") == "диалог завершён"
    assert page.locator("#message-list .bot-chip--hide").count() > 0
    assert visible_chips(page) == []

    # "начать заново": posted by fetch (the page stays), the greeting comes as a message.
    page.evaluate("window.__samePage = true")
    before = skill_lines(page).count()
    page.click("#skill-restart button[type=submit]")
    wait_for_skill_lines(page, before + 1)
    assert newest_skill_text(page).startswith("Загадайте число от 1 до 100")
    page.wait_for_selector("#skill-restart[data-state=done]")
    assert page.evaluate("window.__samePage") is True
    assert visible_chips(page) == ["Готов"]
    assert anna.problems == []


def test_cards_links_and_the_end_line_live_and_after_a_reload(skill_people, skill_site, browser):
    anna = skill_person(browser, skill_site, skill_people["anna"])
    anna.log_in("/messages/")
    thread_id = start_conversation(anna, "kartochki", "Покажи")
    page = anna.page

    # A BigImage: the picture (Dialogs' address of its image_id), title and description.
    wait_for_skill_lines(page, 1)
    first = skill_lines(page).last
    image = first.locator(".bot-card--big img.bot-card__image")
    assert image.get_attribute("src") == (
        "https://avatars.mds.yandex.net/get-dialogs-skill-card/1027858/46d1ce0c9cd5c0e8f7b0/orig"
    )
    assert first.locator(".bot-card--big .bot-card__title").text_content() == "Кот"
    assert first.locator(".bot-card--big .bot-card__description").text_content() == "Рыжий"

    # A url button is a link to a new tab that cannot reach this page.
    link = first.locator("a.bot-chip--link", has_text="Сайт")
    assert link.get_attribute("href") == "https://example.com/"
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel").split()
    assert visible_chips(page) == ["Сайт", "Ещё"]

    # A chip with a payload; then an ItemsList.
    tap(page, "Ещё")
    wait_for_skill_lines(page, 2)
    second = skill_lines(page).last
    assert second.locator(".bot-card__header").text_content() == "Заголовок"
    assert second.locator(".bot-card__items .bot-card__title").all_text_contents() == [
        "Один",
        "Два",
    ]
    assert second.locator(".bot-card__footer").text_content() == "Подвал"
    # The suggest went with the next message; the link stays.
    assert visible_chips(page) == ["Сайт"]

    # Typed messages: an ImageGallery (a row), then the end of the session.
    page.fill("#compose-text", "дальше")
    page.click("#compose-send")
    wait_for_skill_lines(page, 3)
    gallery = skill_lines(page).last.locator(".bot-card__row .bot-card__title")
    assert gallery.all_text_contents() == ["Три"]
    page.fill("#compose-text", "Пока")
    page.click("#compose-send")
    wait_for_skill_lines(page, 4)
    assert newest_skill_text(page) == "Вы сказали: пока"
    system = page.locator("#message-list li.messages__system")
    assert system.all_text_contents() == ["диалог завершён"]

    # The server renders the same cards and chips as the page drew live.
    live = skill_lines(page).evaluate_all(BOT_PARTS)
    # The chip "Ещё" has a payload ({"more": true}): it never reaches the page.
    assert not [part for part in live if "payload" in part or "more" in part]
    page.reload()
    anna.open_chat(thread_id)
    assert skill_lines(page).evaluate_all(BOT_PARTS) == live
    assert system.all_text_contents() == ["диалог завершён"]
    assert visible_chips(page) == ["Сайт"]
    assert anna.problems == []
