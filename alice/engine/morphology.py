"""
Lemmas of Russian words: the only module that knows which morphology library is installed.

pymorphy2 no longer imports on Python 3.11+; pymorphy3 is its maintained fork with the same
normal forms for ordinary words, so scripts written for alice_scripts keep their behaviour.
"""

import threading
from functools import lru_cache
from typing import Any

_analyzer: Any = None
_analyzer_lock = threading.Lock()


def _get_analyzer() -> Any:
    """Return the one MorphAnalyzer of the process, building it on first use."""
    global _analyzer
    if _analyzer is None:
        # Building it loads the dictionaries: once, on first use or at app start (warm_up),
        # so importing the engine stays cheap and threads do not race to build two.
        with _analyzer_lock:
            if _analyzer is None:
                import pymorphy3

                _analyzer = pymorphy3.MorphAnalyzer()
    return _analyzer


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """Return the normal form of *word* from its most probable parse."""
    return _get_analyzer().parse(word)[0].normal_form


def warm_up() -> None:
    """Load the dictionaries now (app start, before a server forks its workers), so that the
    first user of a fresh process does not wait for them."""
    lemma("кошечек")


def is_loaded() -> bool:
    """Return whether the dictionaries are loaded in this process."""
    return _analyzer is not None
