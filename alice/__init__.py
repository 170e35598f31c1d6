"""
Alice skills written as straight-line generators, as with alice_scripts (see docs/alice.md).

    from alice import Skill, request, say, suggest

Importing this package does not import Django: the engine lives in ``alice.engine``.
"""

from alice.engine import Skill, request, say, suggest

__all__ = ["Skill", "request", "say", "suggest"]
