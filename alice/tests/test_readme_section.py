"""The "Alice skills" section of README.md: its commands work as written."""

import re
import shlex

from django.test import Client

from .conftest import REPO_ROOT


def alice_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    return readme.split("\n## Alice skills\n", 1)[1].split("\n## ", 1)[0]


def test_the_console_command_runs_on_the_projects_python():
    """The terminal chat is shown with the virtualenv's python, the one that has Django."""
    section = alice_section()
    assert "`.venv/bin/python manage.py alice_chat [guess_number]`" in section
    assert not re.search(r"(?<!/)\bpython manage\.py", section)


def test_the_curl_example_gets_the_answers_shown():
    """Each curl of the section, posted to its path as `make run` serves it, gets the answer
    the README shows below it, byte for byte."""
    section = alice_section()
    lines = [line.strip() for line in section.splitlines()]
    commands = [shlex.split(line) for line in lines if line.startswith("curl ")]
    shown = [line for line in lines if line.startswith('{"response"')]
    assert len(commands) == len(shown) == 2
    client = Client()
    for command, answer in zip(commands, shown, strict=True):
        url = command[command.index("-s") + 1]
        assert url.startswith("http://127.0.0.1:8000/")  # the port of `make run`
        body = command[command.index("-d") + 1]
        response = client.post(url.removeprefix("http://127.0.0.1:8000"), body, "application/json")
        assert response.status_code == 200
        assert response.content.decode() == answer
