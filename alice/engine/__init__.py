"""
The generator dialog engine for Alice skills, independent of any web framework.

It must never import Django: scripts, tests and other adapters use it on its own. The Redis
backend is in ``alice.engine.redis_store`` (imported only by whoever uses it); the HTTP side,
shared by every adapter, in ``alice.engine.webhook`` and ``alice.engine.router``.
"""

from .buttons import button, buttons, card_button
from .cards import big_image, card_item, image_gallery, items_list
from .deadline import DeadlineExceeded
from .directives import (
    audio_player_play,
    audio_player_stop,
    request_geolocation,
    show_item_meta,
    start_account_linking,
)
from .durable import DurableSessionStore
from .limits import ResponseLimitError
from .protocol import ProtocolError, build_response, validate_request
from .replay import ReplayDivergence, recorded
from .request import Request, request
from .request_types import EntityType, IntentName, RequestType
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
    "DeadlineExceeded",
    "DurableSessionStore",
    "EntityType",
    "Held",
    "IntentName",
    "MemorySessionStore",
    "ProtocolError",
    "ReplayDivergence",
    "Request",
    "RequestType",
    "ResponseLimitError",
    "Session",
    "SessionBusy",
    "SessionMoved",
    "SessionStore",
    "SessionStoreError",
    "Skill",
    "Turn",
    "audio_player_play",
    "audio_player_stop",
    "big_image",
    "build_response",
    "button",
    "buttons",
    "card_button",
    "card_item",
    "fit_response",
    "image_gallery",
    "items_list",
    "recorded",
    "request",
    "request_geolocation",
    "say",
    "show_item_meta",
    "start_account_linking",
    "suggest",
    "validate_request",
]
