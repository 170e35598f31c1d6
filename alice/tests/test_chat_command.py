"""manage.py alice_chat: a terminal dialog with a script, typed or piped."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from .conftest import REPO_ROOT


def chat(*args: str, lines: str) -> str:
    out = io.StringIO()
    call_command("alice_chat", *args, stdin=io.StringIO(lines), stdout=out)
    return out.getvalue()


def test_chat_with_the_default_script():
    """Without an argument, the README example talks; lines are echoed as a transcript."""
    assert chat(lines="Саша.\n25\nЛюблю собак\n").splitlines() == [
        "Алиса: Добрый день! Как вас зовут?",
        "> Саша.",
        "Алиса: Сколько вам лет?",
        "> 25",
        "Алиса: Вы любите кошек или собак?",
        "  [Обожаю кошечек] [Люблю собак]",
        "> Люблю собак",
        "Алиса: Рада познакомиться, Саша! Когда вам исполнится 26, я могу подарить щенка!",
        "(сессия завершена)",
    ]


def test_chat_presses_payload_buttons_by_title():
    """Typing a button's title presses it (a ButtonPressed with its payload)."""
    output = chat("pet_gift", lines="Саша\n30\nлюблю собак\n")
    assert "подарить щенка!" in output
    assert output.endswith("(сессия завершена)\n")


def test_chat_takes_a_dotted_path():
    """A dotted module path names any script."""
    output = chat("alice.scripts.guess_number", lines="да\n")
    assert "Ваше число больше 50?" in output or "Правда ли, что число больше 50?" in output


def test_chat_stops_at_the_end_of_input():
    """Input ending before the dialog does is said so, without an error."""
    assert chat(lines="Саша\n").splitlines()[-1] == "(ввод закончился, сессия не завершена)"


def test_chat_with_an_unknown_script_fails_clearly():
    """An unknown script is a CommandError naming it."""
    with pytest.raises(CommandError, match="nope"):
        chat("nope", lines="")


def test_chat_reads_piped_stdin():
    """`manage.py alice_chat` reads lines piped to it."""
    result = subprocess.run(
        [sys.executable, "manage.py", "alice_chat", "acquaintance"],
        input="Саша\n25\nкошки\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "я могу подарить котёнка!" in result.stdout
    assert result.stdout.rstrip().endswith("(сессия завершена)")
