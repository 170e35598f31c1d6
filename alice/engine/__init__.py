"""
The generator dialog engine for Alice skills, independent of any web framework.

It must never import Django: scripts, tests and other adapters use it on its own. The Redis
backend is in ``alice.engine.redis_store`` (imported only by whoever uses it); the HTTP side,
shared by every adapter, in ``alice.engine.webhook`` and ``alice.engine.router``.
"""

from .durable import DurableSessionStore
from .protocol import ProtocolError, build_response, validate_request
from .replay import ReplayDivergence, recorded
from .request import Request, request
from .response import fit_response, say, suggest
from .skill import Skill
from .storage import (
    Held,
    MemorySessionStore,
    Session,
    SessionBusy,
    SessionMoved,
    SessionStore,
    SessionStoreError,
    Turn,
)

__all__ = [
    "DurableSessionStore",
    "Held",
    "MemorySessionStore",
    "ProtocolError",
    "ReplayDivergence",
    "Request",
    "Session",
    "SessionBusy",
    "SessionMoved",
    "SessionStore",
    "SessionStoreError",
    "Skill",
    "Turn",
    "build_response",
    "fit_response",
    "recorded",
    "request",
    "say",
    "suggest",
    "validate_request",
]
