"""
The translation catalogs in locale/: the English ones complete, the Russian
plural forms all there, the compiled .mo files in step with the .po files
(a fresh clone runs without gettext's tools), and every string the code
marks present. Read with polib; no gettext program runs here.
"""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

from myproject.tests.marked_strings import marked_in_site

LOCALE = Path(settings.BASE_DIR) / "locale"
DOMAINS = ["django", "djangojs"]


def catalog(language: str, domain: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / f"{domain}.po"))


def forms(entry: polib.POEntry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_english_catalog_is_complete(domain):
    """No untranslated, fuzzy or obsolete entry, every plural form filled."""
    po = catalog("en", domain)
    assert len(po) > 0
    assert not po.metadata_is_fuzzy
    assert [entry.msgid for entry in po.fuzzy_entries()] == []
    assert [entry.msgid for entry in po.untranslated_entries()] == []
    assert [entry.msgid for entry in po.obsolete_entries()] == []
    assert [entry.msgid for entry in po if not all(forms(entry))] == []
    assert "nplurals=2" in po.metadata["Plural-Forms"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_russian_plural_entries_have_every_form(domain):
    """The msgids are Russian, but ngettext needs the catalog for its three forms (and Django's
    fourth, for fractions)."""
    po = catalog("ru", domain)
    assert not po.metadata_is_fuzzy
    assert "nplurals=4" in po.metadata["Plural-Forms"]
    plural = [entry for entry in po if entry.msgid_plural]
    assert plural
    for entry in plural:
        assert len(forms(entry)) == 4, entry.msgid
        assert all(forms(entry)), entry.msgid


PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sd]|\{\w*\}")


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_the_placeholders(language, domain):
    for entry in catalog(language, domain):
        expected = sorted(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        for text in forms(entry):
            if text:
                assert sorted(PLACEHOLDER.findall(text)) == expected, (entry.msgid, text)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_the_compiled_catalog_is_in_step_with_its_source(language, domain):
    """The .mo files are committed: one forgotten compilemessages would serve old text."""
    po = catalog(language, domain)
    mo = polib.mofile(str(LOCALE / language / "LC_MESSAGES" / f"{domain}.mo"))
    compiled = {(entry.msgctxt, entry.msgid): forms(entry) for entry in mo if entry.msgid}
    source = {(entry.msgctxt, entry.msgid): forms(entry) for entry in po.translated_entries()}
    assert compiled == source
    assert mo.metadata["Plural-Forms"] == po.metadata["Plural-Forms"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_marked_string_is_in_the_catalog(domain):
    """What templates, Python and scripts mark is in the catalogs (makemessages was run)."""
    po = catalog("en", domain)
    in_catalog = {(entry.msgctxt, entry.msgid, entry.msgid_plural or None) for entry in po}
    marked = marked_in_site()[domain]
    missing = {key: files for key, files in marked.items() if key not in in_catalog}
    assert missing == {}, "run makemessages (README, Languages) and translate"
