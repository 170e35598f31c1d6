"""The engine stands alone, and alice_scripts scripts run on it unchanged but for one line."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from alice.testing import DialogClient

from .conftest import REPO_ROOT

# The README example of alice_scripts, as its authors wrote it.
README_SCRIPT = """\
from alice_scripts import Skill, request, say, suggest

skill = Skill(__name__)


@skill.script
def run_script():
    yield say('Добрый день! Как вас зовут?')
    name = request.command

    yield say('Сколько вам лет?')
    while not request.matches(r'\\d+'):
        yield say('Я вас не поняла. Скажите число')
    age = int(request.command)

    yield say('Вы любите кошек или собак?',
              suggest('Обожаю кошечек', 'Люблю собак'))
    while not request.has_lemmas('кошка', 'кошечка',
                                 'собака', 'собачка'):
        yield say('У вас только два варианта - кошки или собаки')
    loves_cats = request.has_lemmas('кошка', 'кошечка')

    yield say(f'Рада познакомиться, {name}! Когда вам исполнится {age + 1}, '
              f'я могу подарить {"котёнка" if loves_cats else "щенка"}!',
              end_session=True)
"""

# examples/guess_number_subgens.py of alice_scripts.
GUESS_NUMBER_SCRIPT = """\
from alice_scripts import Skill, request, say, suggest


skill = Skill(__name__)


@skill.script
def run_script():
    yield from say_hi()

    lo, hi = 1, 100
    while lo < hi:
        middle = (lo + hi) // 2
        if (yield from ask_if_greater_than(middle)):
            lo = middle + 1
        else:
            hi = middle

    yield say(f'Думаю, вы загадали число {lo}!', end_session=True)


def say_hi():
    yield say('Загадайте число от 1 до 100, а я его отгадаю. Готовы?')


def ask_if_greater_than(number):
    yield say(f'Ваше число больше {number}?',
              f'Правда ли, что число больше {number}?',
              suggest('Да', 'Нет'))

    while not request.has_lemmas('да', 'ага', 'нет', 'не'):
        yield say('Я вас не поняла. Скажите "да" или "нет"')

    return not request.has_lemmas('нет', 'не')
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def test_engine_does_not_import_django():
    """Importing the engine, its HTTP core and its WSGI router imports no Django."""
    result = run_python(
        "import alice.engine, alice.engine.webhook, alice.engine.router, sys\n"
        "assert 'django' not in sys.modules"
    )
    assert result.returncode == 0, result.stderr


def test_public_api_does_not_import_django():
    """`from alice import Skill, request, say, suggest` and the scripts import no Django."""
    result = run_python(
        "import sys\n"
        "from alice import Skill, request, say, suggest\n"
        "import alice.scripts.acquaintance, alice.scripts.guess_number, alice.scripts.pet_gift\n"
        "import alice.testing\n"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)\n"
    )
    assert result.returncode == 0, result.stderr


def test_engine_runs_a_dialog_without_django():
    """A dialog runs in a process where Django was never imported."""
    result = run_python(
        "import sys\n"
        "from alice.testing import DialogClient\n"
        "replies = DialogClient('acquaintance').dialog('Саша', '25', 'Люблю собак')\n"
        "assert replies[-1].end_session and 'щенка' in replies[-1].text\n"
        "assert 'django' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr


def load_module(tmp_path: Path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def port(source: str) -> str:
    """Return an alice_scripts script with the one change it needs: its import line."""
    ported = source.replace(
        "from alice_scripts import Skill, request, say, suggest",
        "from alice import Skill, request, say, suggest",
    )
    assert ported.count("\n") == source.count("\n")
    assert ported != source
    return ported


def test_readme_script_of_alice_scripts_runs_unchanged(tmp_path):
    """The README script, with only its import line changed, runs and completes."""
    module = load_module(tmp_path, "readme_script", port(README_SCRIPT))
    replies = DialogClient(module.skill).dialog("Саша", "не скажу", "30", "рыбок", "Люблю собак")
    assert [reply.text for reply in replies] == [
        "Добрый день! Как вас зовут?",
        "Сколько вам лет?",
        "Я вас не поняла. Скажите число",
        "Вы любите кошек или собак?",
        "У вас только два варианта - кошки или собаки",
        "Рада познакомиться, Саша! Когда вам исполнится 31, я могу подарить щенка!",
    ]
    assert replies[-1].end_session


@pytest.mark.parametrize("secret", [1, 37, 50, 51, 100])
def test_guess_number_example_of_alice_scripts_runs_unchanged(tmp_path, secret):
    """The sub-dialog example, with only its import line changed, finds the number."""
    module = load_module(tmp_path, f"guess_{secret}", port(GUESS_NUMBER_SCRIPT))
    client = DialogClient(module.skill)
    client.start()
    reply = client.say("Да")
    while not reply.end_session:
        asked = int(reply.text.rstrip("?").split()[-1])
        reply = client.say("Ага" if secret > asked else "Нет")
    assert reply.text == f"Думаю, вы загадали число {secret}!"


def test_app_start_loads_the_morphology_dictionaries():
    """After Django starts the alice app, the dictionaries are loaded before any request."""
    result = run_python(
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'myproject.settings')\n"
        "from alice.engine import morphology\n"
        "assert not morphology.is_loaded()\n"
        "django.setup()\n"
        "assert morphology.is_loaded()\n"
    )
    assert result.returncode == 0, result.stderr


def test_building_the_webhook_router_loads_the_morphology_dictionaries():
    """A framework-free server that builds a WebhookRouter has the dictionaries loaded."""
    result = run_python(
        "import sys\n"
        "from alice.engine import morphology\n"
        "from alice.engine.router import WebhookRouter\n"
        "assert not morphology.is_loaded()\n"
        "WebhookRouter({}, lambda environ, start_response: [])\n"
        "assert morphology.is_loaded()\n"
        "assert 'django' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr
