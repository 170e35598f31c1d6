import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import Context, Template

from privatemessages.plural import ru_plural

FORMS = "сообщение,сообщения,сообщений"
PLURAL_JS = Path(__file__).resolve().parents[1] / "static" / "privatemessages" / "plural.js"


def expected_form(n: int) -> str:
    """The rule as the 2012 original states it."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return "сообщение"
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return "сообщения"
    return "сообщений"


@pytest.mark.parametrize(
    ("n", "form"),
    [
        (0, "сообщений"),
        (1, "сообщение"),
        (2, "сообщения"),
        (3, "сообщения"),
        (4, "сообщения"),
        (5, "сообщений"),
        (11, "сообщений"),
        (12, "сообщений"),
        (14, "сообщений"),
        (21, "сообщение"),
        (22, "сообщения"),
        (25, "сообщений"),
        (101, "сообщение"),
        (111, "сообщений"),
        (112, "сообщений"),
        (1001, "сообщение"),
    ],
)
def test_known_forms(n, form):
    """The issue's examples: 1 сообщение, 3 сообщения, 5/11 сообщений, 21 сообщение."""
    assert ru_plural(n, FORMS) == form


def test_rule_for_0_to_200():
    """Every n in 0..200 (and its negative) takes the form the original rule gives."""
    for n in range(201):
        assert ru_plural(n, FORMS) == expected_form(n), n
        assert ru_plural(-n, FORMS) == expected_form(n), -n


@pytest.mark.parametrize(
    ("value", "form"),
    [
        (None, "сообщений"),
        ("", "сообщений"),
        ("abc", "сообщений"),
        ([], "сообщений"),
        (object(), "сообщений"),
        (float("nan"), "сообщений"),
        (float("inf"), "сообщений"),
        ("21", "сообщение"),
        (" 3 ", "сообщения"),
        ("-1", "сообщение"),
        ("2.0", "сообщения"),
        ("1.5", "сообщения"),
        (1.5, "сообщения"),
        (21.0, "сообщение"),
        (Decimal("5"), "сообщений"),
        (True, "сообщение"),
        ("1e3", "сообщений"),
        ("0x10", "сообщений"),
        ("1_000", "сообщений"),
    ],
)
def test_robust_to_odd_values(value, form):
    """None, "", non-numbers and fractions never raise; non-numbers read as zero."""
    assert ru_plural(value, FORMS) == form


def test_forms_can_be_a_sequence_or_short():
    assert ru_plural(2, ["файл", "файла", "файлов"]) == "файла"
    assert ru_plural(2, "a, b , c") == "b"
    assert ru_plural(5, "one,few") == "few"
    assert ru_plural(5, "") == ""


def render(template: str, **context) -> str:
    return Template("{% load privatemessages_tags %}" + template).render(Context(context))


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1 сообщение"),
        (3, "3 сообщения"),
        (5, "5 сообщений"),
        (11, "11 сообщений"),
        (21, "21 сообщение"),
        (None, "None сообщений"),
        ("", " сообщений"),
        (-2, "-2 сообщения"),
    ],
)
def test_rupluralize_filter(n, text):
    assert render('{{ n }} {{ n|rupluralize:"сообщение,сообщения,сообщений" }}', n=n) == text


def test_rupluralize_filter_with_missing_variable_and_forms():
    assert render('{{ missing|rupluralize:"сообщение,сообщения,сообщений" }}') == "сообщений"
    assert render("{{ 2|rupluralize:forms }}", forms=None) == ""


NODE_SCRIPT = """
const ruPlural = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const special = {undefined: undefined, NaN: NaN, Infinity: Infinity};
const isSpecial = (value) => typeof value === "object" && value && "special" in value;
const out = cases.map(([value, forms]) =>
  ruPlural(isSpecial(value) ? special[value.special] : value, forms));
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_javascript_twin_agrees_with_python():
    """plural.js gives the same form as plural.py for the same inputs."""
    values = [*range(201), *range(-200, 0), 1001, 1011, 10**6 + 1]
    values += [None, "", "abc", " 21 ", "-3", "2.0", "1.5", "0.50", 1.5, 21.0, True, False]
    values += ["1e3", "0x10", "1_000", "+4", "12345678901234567891", [], {}, [1]]
    cases = [[value, FORMS] for value in values]
    cases += [[2, ["файл", "файла", "файлов"]], [5, "one,few"], [5, ""], [2, "a, b , c"]]
    python = [ru_plural(value, forms) for value, forms in cases]
    # Values JSON cannot carry: JavaScript's undefined and NaN read as Python's None and nan.
    cases += [[{"special": "undefined"}, FORMS], [{"special": "NaN"}, FORMS]]
    cases += [[{"special": "Infinity"}, FORMS]]
    python += [ru_plural(None, FORMS), ru_plural(float("nan"), FORMS)]
    python += [ru_plural(float("inf"), FORMS)]

    result = subprocess.run(
        ["node", "-e", NODE_SCRIPT, str(PLURAL_JS)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    javascript = json.loads(result.stdout)
    mismatches = [
        (case[0], py, js)
        for case, py, js in zip(cases, python, javascript, strict=True)
        if py != js
    ]
    assert mismatches == []
