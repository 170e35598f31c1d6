"""
The README's screenshots: the chat page at phone and desktop size, in Russian
and in English, taken by Chromium (/usr/bin/chromium, driven by Playwright).

    make screenshots        # or: .venv/bin/python tools/screenshots.py

Serves the site on the embedded defaults (SQLite in a temporary directory, the
in-memory channel layer) with the demo users and a short conversation, and
writes docs/screenshots/{ru,en}-{phone,desktop}.png. The developer's own
database is not touched.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from deploy.processes import Started, free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ZONE = "Europe/Moscow"
# (name, width, height, phone) in CSS pixels.
SCREENS = [("phone", 390, 844, True), ("desktop", 1280, 800, False)]
LANGUAGES = ["ru", "en"]
CONVERSATION = [
    ("anna", "Привет! Как дела?"),
    ("boris", "Hi Anna! Fine, thanks — on my way home."),
    ("anna", "Заходи вечером, есть пирог.\nИ захвати, пожалуйста, книгу."),
    ("boris", "Договорились, буду к семи."),
]


def site_env(database: Path) -> dict[str, str]:
    """The embedded defaults (what `make run` serves), on a database of its own."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="myproject.settings",
        DATABASE_URL=f"sqlite:///{database}",
        DEBUG="1",
        TIME_ZONE=ZONE,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_site(env: dict[str, str]) -> int:
    """Migrate, create the demo users and their conversation; return the thread's id."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from privatemessages import services

    call_command("migrate", interactive=False, verbosity=0)
    call_command("create_demo_users", verbosity=0)
    users = {
        u.username: u for u in get_user_model().objects.filter(username__in=["anna", "boris"])
    }
    thread = None
    for sender, text in CONVERSATION:
        recipient = "boris" if sender == "anna" else "anna"
        message = services.message_send_to_username(
            sender=users[sender], recipient_username=recipient, text=text
        )
        thread = message.thread
    return thread.pk


def take(base_url: str, thread_id: int, out_dir: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from privatemessages.management.commands.create_demo_users import DEMO_PASSWORD

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        for language in LANGUAGES:
            for name, width, height, phone in SCREENS:
                context = browser.new_context(
                    base_url=base_url,
                    viewport={"width": width, "height": height},
                    is_mobile=phone,
                    has_touch=phone,
                    device_scale_factor=2 if phone else 1,
                    locale="ru-RU" if language == "ru" else "en-US",
                    timezone_id=ZONE,
                    color_scheme="light",
                )
                context.add_cookies(
                    [
                        {"name": "django_language", "value": language, "url": base_url},
                        {"name": "timezone", "value": ZONE, "url": base_url},
                    ]
                )
                page = context.new_page()
                chat = f"/messages/chat/{thread_id}/"
                page.goto(f"/accounts/login/?next={chat}")
                page.fill("input[name=username]", "anna")
                page.fill("input[name=password]", DEMO_PASSWORD)
                page.click("#login-form button[type=submit]")
                page.wait_for_selector("#chat[data-connection=synced]")
                # The caret would blink into some shots and not others.
                page.locator("#compose-text").blur()
                path = out_dir / f"{language}-{name}.png"
                page.screenshot(path=str(path))
                written.append(path)
                context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        env = site_env(Path(tmp) / "db.sqlite3")
        thread_id = prepare_site(env)
        from deploy.cluster import server_command

        port = free_port()
        server = Started(
            server_command("127.0.0.1", port), port=port, log=Path(tmp) / "server.log", env=env
        )
        server.start()
        try:
            for path in take(f"http://127.0.0.1:{port}", thread_id, args.out):
                print(path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
