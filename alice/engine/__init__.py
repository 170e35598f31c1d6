"""
The generator dialog engine for Alice skills, independent of any web framework.

It must never import Django: scripts, tests and other adapters use it on its own.
"""

from .protocol import ProtocolError, build_response, validate_request
from .request import Request, request
from .response import fit_response, say, suggest
from .skill import Skill
from .storage import MemorySessionStore, Session, SessionBusy, SessionStore

__all__ = [
    "MemorySessionStore",
    "ProtocolError",
    "Request",
    "Session",
    "SessionBusy",
    "SessionStore",
    "Skill",
    "build_response",
    "fit_response",
    "request",
    "say",
    "suggest",
    "validate_request",
]
