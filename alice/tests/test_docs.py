"""Issue 13: every code block of docs/alice.md runs. Python blocks run as modules and their
skills are talked to (every answer checked against the protocol's schema, every dialog
replayed); the files of the complete example run as a package of their own under pytest,
with no database; each shell line runs (a server-starting `make` target as a dry run)."""

import os
import re
import shlex
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.urls import URLPattern

from alice.engine import Skill
from alice.testing import DialogClient

from .conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "alice.md"
_BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    file: str | None
    code: str


def blocks() -> list[Block]:
    text = DOC.read_text()
    return [
        Block(text[: match.start()].count("\n") + 1, match["lang"], match["file"], match["code"])
        for match in _BLOCK.finditer(text)
    ]


MODULES = [block for block in blocks() if block.lang == "python" and block.file is None]
FILES = [block for block in blocks() if block.file is not None]
SHELL = [block for block in blocks() if block.lang == "sh"]
UTTERANCES = ["Саша", "25", "кошки", "да", "50", "нет", "привет"]


def test_the_doc_has_the_blocks_these_tests_run():
    assert len(MODULES) >= 7
    assert {block.file for block in FILES} >= {"myskills/pizza.py", "myskills/tests/test_pizza.py"}
    assert all(block.lang in ("python", "sh", "") for block in blocks())


def load(block: Block) -> types.ModuleType:
    module = types.ModuleType(f"alice_docs_line_{block.line}")
    sys.modules[module.__name__] = module
    try:
        exec(compile(block.code, f"{DOC}:{block.line}", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module


def talk_to(skill: Skill) -> list[str]:
    """Drive a dialog as a user would: tap the first button, link the account when asked,
    otherwise say the next utterance; return the texts."""
    client = DialogClient(skill, replay=True)
    reply = client.start()
    texts = [reply.text]
    for step in range(12):
        if reply.end_session:
            break
        if "start_account_linking" in reply.directives:
            reply = client.account_linking_complete("docs-token")
        elif reply.buttons:
            reply = client.press(reply.titles[0])
        else:
            reply = client.say(UTTERANCES[step % len(UTTERANCES)])
        texts.append(reply.text)
    if skill.events.find("Show.Pull") or skill.events.find("AudioPlayer.PlaybackStarted"):
        client.audio_player("PlaybackStarted")
        texts.append(DialogClient(skill, replay=True).show_pull().text)
    return texts


@pytest.mark.parametrize("block", MODULES, ids=lambda block: f"line {block.line}")
def test_each_python_block_runs(block):
    module = load(block)
    skill = getattr(module, "skill", None)
    if isinstance(skill, Skill):
        texts = talk_to(skill)
        assert texts[0]
        assert skill.lost_text not in texts
        assert skill.apology_text not in texts
    else:
        patterns = module.urlpatterns
        assert patterns
        assert all(isinstance(pattern, URLPattern) for pattern in patterns)


def test_the_complete_example_and_the_test_layout_run_under_pytest(tmp_path):
    """The files of "Testing a script", written out as a package of their own, pass under
    pytest with no Django settings, database or Redis."""
    for block in FILES:
        path = tmp_path / block.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.code)
    for package in ("myskills", "myskills/tests"):
        (tmp_path / package / "__init__.py").touch()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:django",
            "myskills",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout


def shell_lines() -> list[str]:
    lines = []
    for block in SHELL:
        lines += [line for line in block.code.splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize("line", shell_lines())
def test_each_shell_line_runs(line):
    """An alice_chat line talks to its script; a bench or deploy script answers --help with
    the options shown; a make target that starts servers is run dry."""
    command = line.split("  #", 1)[0].strip()
    env = {**os.environ}
    if "| " in command:  # printf '...' | .venv/bin/python manage.py alice_chat
        completed = subprocess.run(
            command, shell=True, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
        )
        assert completed.returncode == 0, completed.stderr
        assert "котёнка" in completed.stdout
        return
    words = shlex.split(command)
    while "=" in words[0]:  # VAR=value before the command
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if words[0] == "make":
        completed = subprocess.run(
            ["make", "-n", *words[1:]], cwd=REPO_ROOT, capture_output=True, text=True, env=env
        )
        assert completed.returncode == 0, completed.stderr
        return
    assert words[0] == ".venv/bin/python", line
    words[0] = sys.executable
    if "manage.py" in words:
        completed = subprocess.run(
            words,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip()
        return
    options = [word for word in words[2:] if word.startswith("--")]
    completed = subprocess.run(
        [words[0], words[1], "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert all(option in completed.stdout for option in options if option != "--help")
    assert Path(REPO_ROOT / words[1]).is_file()
