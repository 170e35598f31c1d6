"""Talk to an Alice script in the terminal: ``manage.py alice_chat [script]``."""

import sys
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _

from alice.engine import MemorySessionStore
from alice.testing import DialogClient, Reply, load_skill


class Command(BaseCommand):
    help = (
        "Talk to an Alice script in the terminal: each line you type is an utterance; type a "
        "button's title to press it. Works with piped input too."
    )
    # call_command(..., stdin=StringIO(...)) in tests.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "script",
            nargs="?",
            default="acquaintance",
            help="a module of alice.scripts (e.g. guess_number) or a dotted module path "
            "holding a Skill (default: acquaintance, the README example)",
        )
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="the language of the command's own words (the skill speaks its own)",
        )

    def handle(self, *args: Any, script: str, language: str, **options: Any) -> None:
        with translation.override(language):
            self.chat(script, options.get("stdin") or sys.stdin)

    def chat(self, script: str, stdin: TextIO) -> None:
        try:
            skill = load_skill(script)
        except (ImportError, LookupError) as exc:
            raise CommandError(f"Cannot load the script {script!r}: {exc}") from exc
        interactive = stdin is sys.stdin and stdin.isatty()
        # A terminal chat needs no durable record: keep it out of the site's store.
        # No schema check: it needs the test tools' jsonschema, which a server may not have.
        client = DialogClient(skill, store=MemorySessionStore(), check_answers=False)
        reply = client.start()
        self.show(reply)
        while not reply.end_session:
            try:
                line = self.read_line(stdin, interactive)
            except KeyboardInterrupt:
                line = None
            if line is None:
                self.stdout.write(_("(ввод закончился, сессия не завершена)"))
                return
            if any(title.lower() == line.lower() for title in reply.titles):
                reply = client.press(line)
            else:
                reply = client.say(line)
            self.show(reply)
        self.stdout.write(_("(сессия завершена)"))

    def read_line(self, stdin: TextIO, interactive: bool) -> str | None:
        """Return the next line the user typed, or None at the end of input."""
        if interactive:
            try:
                return input("> ").strip()
            except EOFError:
                self.stdout.write("")  # end the prompt's line
                return None
        line = stdin.readline()
        if not line:
            return None
        line = line.strip()
        # Echo piped input, so that the output reads as a transcript.
        self.stdout.write(f"> {line}")
        return line

    def show(self, reply: Reply) -> None:
        """Print what the skill said, and its buttons."""
        self.stdout.write(_("Алиса: %(text)s") % {"text": reply.text})
        if reply.buttons:
            self.stdout.write("  " + " ".join(f"[{title}]" for title in reply.titles))
