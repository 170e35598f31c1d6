"""
What Dialogs makes of a typed utterance: the ``command`` (lower case, punctuation dropped),
the NLU tokens and the YANDEX.NUMBER entities. Shared by every producer of requests (the
chat's skill partners, the testing tools) so that scripts see the same words everywhere.

Not done here, as Dialogs does: speech recognition, numbers written as words, and every
other NLU entity (YANDEX.FIO, YANDEX.GEO, YANDEX.DATETIME) and intent.
"""

import re
from typing import Any

from .protocol import MAX_UTTERANCE

__all__ = ["command_of", "number_entities", "tokens_of", "utterance_nlu"]

# A word or a number, with inner hyphens ("кто-то", "-5"); a lone hyphen is punctuation.
_WORD = re.compile(r"[\w-]+")
_NUMBER = re.compile(r"-?\d+")


def tokens_of(text: str) -> list[str]:
    """Return the words and numbers of *text*, lower-cased, punctuation dropped."""
    return [token for token in _WORD.findall(text.lower()) if token.strip("-")]


def command_of(text: str) -> str:
    """Return *text* as Dialogs' ``command``: its tokens joined by spaces."""
    return " ".join(tokens_of(text))[:MAX_UTTERANCE]


def number_entities(tokens: list[str]) -> list[dict[str, Any]]:
    """Return a YANDEX.NUMBER entity for each token of *tokens* that is a whole number."""
    return [
        {"type": "YANDEX.NUMBER", "tokens": {"start": i, "end": i + 1}, "value": int(token)}
        for i, token in enumerate(tokens)
        if _NUMBER.fullmatch(token)
    ]


def utterance_nlu(text: str) -> dict[str, Any]:
    """Return the ``nlu`` object of a typed *text*: tokens, number entities, no intents."""
    tokens = tokens_of(text)
    return {"tokens": tokens, "entities": number_entities(tokens), "intents": {}}
