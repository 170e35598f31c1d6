"""
The strings the code marks for translation, found without gettext's tools:
Python calls of gettext and its kin (``_``, ``ngettext``, ``pgettext``, …),
templates through Django's own ``templatize`` (what makemessages feeds to
xgettext), and the scripts' calls of the JavaScript catalog's functions.
A cheaper stand-in for running makemessages, which needs xgettext.
"""

import ast
import io
import json
import os
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

from django.utils.translation.template import templatize

BASE_DIR = Path(__file__).resolve().parents[2]
# Not the site's code, or never shown: like makemessages' --ignore (which also
# skips every directory whose name starts with a dot, such as virtualenvs).
SKIPPED_PARTS = {"node_modules", "staticfiles", "tests", "migrations", "bench"}

# How many leading arguments each function takes as (context?, msgid, plural?).
PYTHON_CALLS = {
    "_": ("msgid",),
    "gettext": ("msgid",),
    "gettext_lazy": ("msgid",),
    "gettext_noop": ("msgid",),
    "ngettext": ("msgid", "plural"),
    "ngettext_lazy": ("msgid", "plural"),
    "pgettext": ("context", "msgid"),
    "pgettext_lazy": ("context", "msgid"),
    "npgettext": ("context", "msgid", "plural"),
    "npgettext_lazy": ("context", "msgid", "plural"),
}
JAVASCRIPT_CALLS = {
    name: PYTHON_CALLS[name] for name in ("gettext", "ngettext", "pgettext", "npgettext")
}

# A marked string: (context or None, msgid, plural or None).
Marked = tuple[str | None, str, str | None]


def site_files(suffix: str) -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(BASE_DIR):
        # Pruned, not filtered: the virtualenv alone holds thousands of files.
        subdirectories[:] = sorted(
            name for name in subdirectories if name not in SKIPPED_PARTS and name[0] != "."
        )
        for name in sorted(files):
            if name.endswith(suffix):
                yield Path(directory) / name


def _marked(name: str, strings: list[str], calls: dict) -> Marked | None:
    roles = calls[name]
    if len(strings) < len(roles):
        return None  # a call on a variable: nothing to extract
    found = dict(zip(roles, strings, strict=False))
    return found.get("context"), found["msgid"], found.get("plural")


def python_marked(source: str) -> set[Marked]:
    """The marked strings of Python source, or of templatize's Python-like output."""
    tokens = [
        token
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    ]
    found = set()
    for i, token in enumerate(tokens[:-1]):
        if token.type != tokenize.NAME or token.string not in PYTHON_CALLS:
            continue
        if tokens[i + 1].string != "(" or (i and tokens[i - 1].string in (".", "def")):
            continue
        strings, current, j = [], None, i + 2
        while j < len(tokens):
            kind, text = tokens[j].type, tokens[j].string
            if kind == tokenize.STRING and "f" not in text.split(text[-1])[0].lower():
                value = ast.literal_eval(text)
                current = value if current is None else current + value  # "a" "b"
            elif text == "," and current is not None:
                strings.append(current)
                current = None
            else:
                break
            j += 1
        if current is not None:
            strings.append(current)
        marked = _marked(token.string, strings, PYTHON_CALLS)
        if marked:
            found.add(marked)
    return found


def template_marked(source: str) -> set[Marked]:
    return python_marked(templatize(source))


_JS_STRING = r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
_JS_CALL = re.compile(
    r"(?<![\w.$])(" + "|".join(JAVASCRIPT_CALLS) + r")\s*\(\s*"
    r"((?:(?:" + _JS_STRING + r")\s*(?:\+\s*(?:" + _JS_STRING + r")\s*)*,?\s*)+)"
)


def _js_value(literal: str) -> str:
    if literal.startswith("'"):
        literal = '"' + literal[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
        literal = literal.replace("\\'", "'")
    return json.loads(literal)


def javascript_marked(source: str) -> set[Marked]:
    found = set()
    for match in _JS_CALL.finditer(source):
        arguments = re.split(r",(?=\s*(?:" + _JS_STRING + r"))", match.group(2))
        strings = [
            "".join(_js_value(part) for part in re.findall(_JS_STRING, argument))
            for argument in arguments
            if re.search(_JS_STRING, argument)
        ]
        marked = _marked(match.group(1), strings, JAVASCRIPT_CALLS)
        if marked:
            found.add(marked)
    return found


def marked_in_site() -> dict[str, dict[Marked, list[str]]]:
    """Every marked string of the site by gettext domain, with the files that mark it."""
    domains: dict[str, dict[Marked, list[str]]] = {"django": {}, "djangojs": {}}
    sources = [
        *((path, "django", python_marked) for path in site_files(".py")),
        *((path, "django", template_marked) for path in site_files(".html")),
        *((path, "djangojs", javascript_marked) for path in site_files(".js")),
    ]
    for path, domain, extract in sources:
        for marked in extract(path.read_text(encoding="utf-8")):
            domains[domain].setdefault(marked, []).append(str(path.relative_to(BASE_DIR)))
    return domains
