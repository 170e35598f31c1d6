"""
Usernames that cannot pass for someone else's: none with invisible or format
characters, and none that looks like one already taken.

"Looks like" follows Unicode's confusables data (UTS #39), as packaged by
confusable_homoglyphs: two names collide when their skeletons are equal, the
skeleton mapping each character to the prototype it can be mistaken for. So
``аnna`` with a Cyrillic "а" is ``anna``, and ``I1`` is ``ll``.
"""

import unicodedata
from functools import cache

from confusable_homoglyphs.confusables import confusables_data
from django.contrib.auth import get_user_model

# Default-ignorable code points that are letters or marks (so Django's \w
# validator lets them through) yet render as nothing: the Hangul fillers, the
# combining grapheme joiner, Khmer inherent vowels, Mongolian selectors and
# the variation selectors.
_IGNORABLE = frozenset(
    "\u115f\u1160\u3164\uffa0\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)
# The data wraps right-to-left prototypes in these marks for display.
_DISPLAY_MARKS = str.maketrans("", "", "\u200e\u200f")


def invisible_characters(username: str) -> list[str]:
    """
    Return the characters of *username* that render as nothing or steer how
    the text around them renders: format characters (zero-width spaces and
    joiners, bidirectional controls), controls, and the ignorable letters.
    """
    return [
        char
        for char in username
        if char in _IGNORABLE or unicodedata.category(char) in {"Cf", "Cc"}
    ]


def skeletons(username: str) -> frozenset[str]:
    """
    Return the skeletons *username* is compared by: of the name as written,
    and of its case-folded form, so that names differing in case or in
    look-alike letters of any case collide.
    """
    return frozenset(_skeleton(name) for name in (username, username.casefold()))


def _skeleton(text: str) -> str:
    mapped = "".join(_prototype(char) for char in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


@cache
def _prototype(char: str) -> str:
    """Return what *char* can be mistaken for (itself if nothing)."""
    entries = confusables_data.get(char)
    if not entries or len(entries) > 1:
        # Unlisted, or a prototype that several characters map to.
        return char
    target = entries[0]["c"].translate(_DISPLAY_MARKS)
    if len(target) != 1:
        return target
    back = confusables_data.get(target, [])
    if len(back) == 1 and back[0]["c"].translate(_DISPLAY_MARKS) == char:
        # A pair that maps one to one: the data does not say which one is the
        # prototype, so both take the same one.
        return min(char, target)
    return target


def confusable_username(username: str) -> str | None:
    """Return a taken username that *username* could be mistaken for, or None."""
    wanted = skeletons(username)
    user_model = get_user_model()
    taken = user_model._default_manager.values_list(user_model.USERNAME_FIELD, flat=True)
    # The database cannot compute skeletons, so every taken name is read and
    # compared here: always current (no stored copy to keep in step with
    # renames or with ICU's data), at a cost that grows with the user table.
    for other in taken.iterator(chunk_size=2000):
        if wanted & skeletons(other):
            return other
    return None
