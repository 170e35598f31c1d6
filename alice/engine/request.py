"""The request a script sees: a dict of the protocol request with helpers, one per context."""

import random
import re
from collections.abc import Iterator
from contextvars import Token
from typing import Any, cast

from .morphology import lemma
from .request_types import UTTERANCE_TYPES, Entities, Intents, Meta, State
from .turn import TurnContext, activate_turn, current_turn, deactivate_turn, turn_seed

__all__ = ["Request", "request", "turn_seed"]

_WORD = re.compile(r"[\w-]+")


class Request(dict):
    """
    Read a protocol request like the dict it is, plus the helpers of alice_scripts.

    A shallow copy of the top level only: the nested objects are shared with the parsed JSON,
    which nothing changes afterwards.
    """

    def __init__(self, data: dict[str, Any], *, authorized: bool | None = None) -> None:
        """*authorized* overrides what the session says: a replayed turn's request says what
        the turn's live request said (see is_authorized)."""
        super().__init__(data)
        self._authorized = authorized
        # Whether the script read request.state: the turn then records the state.
        self.state_read = False
        body = self.get("request") or {}
        self._body: dict[str, Any] = body
        command = body.get("command")
        if command is None:
            # A ButtonPressed request has no command: read the button's title from the NLU
            # tokens, so that has_lemmas() loops accept a tapped button as well as speech.
            command = " ".join((body.get("nlu") or {}).get("tokens") or ())
        self._command: str = command.rstrip(".")
        self._words: list[str] | None = None
        self._lemmas: list[str] | None = None
        # request.random outside a dialog's turn (turn 0).
        self._random: random.Random | None = None

    @property
    def command(self) -> str:
        """Return the normalised utterance with trailing dots stripped."""
        return self._command

    def matches(self, pattern: str | re.Pattern[str], flags: int = 0) -> bool:
        """Return whether the whole command matches *pattern*."""
        return re.fullmatch(pattern, self._command, flags) is not None

    @property
    def words(self) -> list[str]:
        """Return the words and numbers of the command."""
        if self._words is None:
            self._words = _WORD.findall(self._command)
        return self._words

    @property
    def lemmas(self) -> list[str]:
        """Return the normal form of each word of the command."""
        if self._lemmas is None:
            self._lemmas = [lemma(word) for word in self.words]
        return self._lemmas

    def has_lemmas(self, *words: str) -> bool:
        """Return whether the normal form of any of *words* is among the command's lemmas."""
        lemmas = self.lemmas
        return any(lemma(word) in lemmas for word in words)

    @property
    def original_utterance(self) -> str:
        """Return the raw text of the utterance ("" when there is none)."""
        return self._body.get("original_utterance") or ""

    @property
    def type(self) -> str:
        """Return the request type, one of RequestType's values."""
        return self._body.get("type") or "SimpleUtterance"

    @property
    def is_event(self) -> bool:
        """Return whether the request is an event (AudioPlayer.*, Show.Pull, ...) rather
        than something the user said or tapped."""
        return self.type not in UTTERANCE_TYPES

    @property
    def intents(self) -> Intents:
        """Return the intents Alice's NLU recognised, by name (see Intents)."""
        return Intents.parse((self._body.get("nlu") or {}).get("intents"))

    @property
    def meta(self) -> Meta:
        """Return the device's locale, time zone and interfaces."""
        return Meta.parse(self.get("meta"))

    @property
    def state(self) -> State:
        """Return the session, user and application states Dialogs sent back. A turn that
        reads it records it, so that its replay reads the same."""
        self.state_read = True
        return State.parse(self.get("state"))

    @property
    def location(self) -> dict[str, Any] | None:
        """Return the user's location (``lat``, ``lon``, ``accuracy``) when they shared it
        (after request_geolocation() and a Geolocation.Allowed), else None."""
        return self["session"].get("location")

    @property
    def is_authorized(self) -> bool:
        """
        Return whether the user has linked their account (the request carries an access
        token). Replay-safe: on a replay, it is what the turn's live request said, recorded
        with the turn (the token itself never is).
        """
        if self._authorized is not None:
            return self._authorized
        return bool((self["session"].get("user") or {}).get("access_token"))

    @property
    def access_token(self) -> str | None:
        """
        Return the OAuth token of a linked account, from the request being answered (never
        stored; on a replay, the live request's token). Use it inside recorded(): its calls
        are made on the live run only.
        """
        return (self["session"].get("user") or {}).get("access_token")

    @property
    def payload(self) -> Any:
        """Return the payload of a pressed button, or None."""
        return self._body.get("payload")

    @property
    def entities(self) -> Entities:
        """Return the NLU entities Alice found in the utterance; ``entities.of(type)``
        keeps those of one EntityType."""
        return Entities((self._body.get("nlu") or {}).get("entities") or ())

    def entity_values(self, entity_type: str) -> list[Any]:
        """Return the values of the NLU entities of *entity_type*, in utterance order."""
        return [e.get("value") for e in self.entities if e.get("type") == entity_type]

    @property
    def numbers(self) -> list[int | float]:
        """Return the values of the YANDEX.NUMBER entities, in utterance order."""
        return self.entity_values("YANDEX.NUMBER")

    @property
    def session_id(self) -> str:
        """Return the id of the session."""
        return self["session"]["session_id"]

    @property
    def message_id(self) -> int:
        """Return the number of this request within its session, from 0."""
        return self["session"]["message_id"]

    @property
    def user_id(self) -> str | None:
        """Return the application-scoped user id (the deprecated ``session.user_id``)."""
        session = self["session"]
        user_id = session.get("user_id")
        if user_id is None:
            user_id = (session.get("application") or {}).get("application_id")
        return user_id

    @property
    def is_new_session(self) -> bool:
        """Return whether Alice opened a new session with this request."""
        return self["session"].get("new") is True

    @property
    def is_ping(self) -> bool:
        """Return whether this is Yandex's health check rather than a user speaking."""
        return self._body.get("original_utterance") == "ping" and not self._body.get("command")

    @property
    def random(self) -> random.Random:
        """
        Return a random generator seeded by the session and the turn.

        A replay of the turn draws the same numbers, so a choice made with it needs no
        recording (say() picks its variants with it).
        """
        current = current_turn()
        if current is not None and current.request is self:
            return current.random
        if self._random is None:
            self._random = random.Random(turn_seed(self.session_id, 0))
        return self._random


def current_request() -> Request | None:
    """Return the request of this context, or None outside a running script."""
    current = current_turn()
    return None if current is None else current.request


def activate(current: Request) -> Token[TurnContext]:
    """Make *current* the request of this context, in a turn of its own (tests, tools);
    pass the token to deactivate()."""
    return activate_turn(TurnContext(current))


def deactivate(token: Token[TurnContext]) -> None:
    """Restore the request that was current before activate()."""
    deactivate_turn(token)


class _RequestProxy:
    """Stand for the request being handled in the current thread or task."""

    __slots__ = ()

    def _get(self) -> Request:
        current = current_turn()
        if current is not None:
            return current.request
        raise RuntimeError("alice.request is only available while a script handles a request")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __eq__(self, other: object) -> bool:
        return self._get() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        current = current_request()
        if current is None:
            return "<request: none active>"
        return f"<request {dict.__repr__(current)}>"


# Typed as Request so that editors complete its helpers.
request: Request = cast(Request, _RequestProxy())
