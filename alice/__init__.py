"""
Alice skills written as straight-line generators, as with alice_scripts (see docs/alice.md).

    from alice import Skill, request, say, suggest
    from alice import recorded  # outside values (time, random, lookups) that replay agrees on

Importing this package does not import Django: the engine lives in ``alice.engine``.
"""

from alice.engine import Skill, recorded, request, say, suggest

__all__ = ["Skill", "recorded", "request", "say", "suggest"]
