"""
Rebuilding a dialog in any process: replaying its turns, outside values, divergence checks.

A recording store keeps, for each turn, what changes from one request of a session to the
next (the request body's protocol fields, the message id and ``new``), the values recorded()
returned and a digest of the response. Running those turns through a fresh generator, the
outputs discarded, brings it to the state the dialog was in, provided that the script reads
nothing else that can change: the request, ``request.random`` (say() picks its variants
with it) and recorded() values. A replay that answers a turn otherwise than the first time
has diverged; the skill then ends the dialog rather than go on in a wrong state.
"""

import hashlib
import json
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from .deadline import DeadlineExceeded, call_before
from .request import Request
from .response import fit_response
from .storage import Turn
from .turn import TurnContext, activate_turn, current_turn, deactivate_turn

__all__ = [
    "ReplayDivergence",
    "recordable",
    "recorded",
    "replay",
    "replayed_request",
    "response_digest",
]

T = TypeVar("T")

# What a turn records of the request body: the protocol's fields a script reads (unknown
# ones, which only a client that is not Alice sends, are not kept)...
_BODY_FIELDS = ("command", "original_utterance", "type", "payload", "markup", "show_type")
_NLU_FIELDS = ("tokens", "entities", "intents")
# ...and of the session, what changes from one request to the next (with the location,
# when shared, and whether the account is linked). The rest of a request (the session's
# ids, the user with the access_token, meta, version) is the same throughout a session: a
# replay takes it from the request being answered. The state is recorded when the turn
# read it.
_SESSION_FIELDS = ("message_id", "new")

_MISSING = object()


class ReplayDivergence(Exception):
    """A replayed turn did not go as it went the first time."""

    def __init__(self, turn: int, reason: str) -> None:
        super().__init__(f"turn {turn}: {reason}")
        self.turn = turn
        self.reason = reason


def recorded(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """
    Return ``function(*args, **kwargs)``, called on the live run of the turn only.

    When the dialog is replayed in another process (or after a restart), the call is not
    made again: the value it returned the first time is returned instead. Wrap in it what a
    script reads from outside the request (the time, random numbers, a database lookup) and
    what has effects (sending a message), so that a replay sees the same values and repeats
    no effects. Past the turn's deadline (Skill's ``deadline``) the call is left to finish
    on its worker thread and the turn is abandoned (deadline.py). The value is stored with
    the turn as JSON, and comes back as JSON gives it
    (a tuple as a list) on the live run as well; anything JSON cannot hold is a TypeError.
    """
    turn = current_turn()
    if turn is None:
        raise RuntimeError("recorded() is only available while a script handles a request")
    if turn.replayed is not None:
        value = next(turn.replayed, _MISSING)
        if value is _MISSING:
            turn.diverged = "the script asked for more recorded() values than the first time"
            raise ReplayDivergence(turn.number, turn.diverged)
        return value  # type: ignore[return-value]
    if turn.confirm is not None:
        # The turn may be running on a generator that another process has since moved past:
        # confirm it (which may end the turn) before reaching outside, which is not undone.
        confirm, turn.confirm = turn.confirm, None
        confirm()
    if turn.deadline is None:
        value = function(*args, **kwargs)
    else:
        try:
            value = call_before(turn.deadline, function, *args, **kwargs)
        except DeadlineExceeded:
            turn.abandoned = True
            raise
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"recorded(): {function!r} returned a {type(value).__name__}, which is not "
            "stored as JSON; return a str, number, bool, None, list or dict"
        ) from exc
    value = json.loads(text)
    turn.values.append(value)
    return value


def _pick(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {key: data[key] for key in fields if key in data}


def recordable(current: Request) -> dict[str, Any]:
    """
    Return what a turn keeps of *current*: ``{"request": ..., "session": ...}`` and, when
    the script read it, the ``state``: the parts a replay cannot take from a later request
    of the session. Of the user, only whether the account was linked (``authorized``): the
    access_token never is kept.
    """
    body = current["request"]
    record = _pick(body, _BODY_FIELDS)
    nlu = body.get("nlu")
    if isinstance(nlu, dict):
        record["nlu"] = _pick(nlu, _NLU_FIELDS)
    session = current["session"]
    kept = _pick(session, _SESSION_FIELDS)
    if "location" in session:
        kept["location"] = session["location"]
    if current.is_authorized:
        kept["authorized"] = True
    turn = {"request": record, "session": kept}
    if current.state_read:
        # Only a turn that read it: the state may be kilobytes, and most scripts keep
        # theirs in the generator.
        turn["state"] = current.get("state") or {}
    return turn


def replayed_request(record: dict[str, Any], current: dict[str, Any]) -> Request:
    """Return the request of a recorded turn: its *record* over *current*, the request
    being answered, which gives what is the same throughout the session."""
    data = dict(current)
    data["request"] = record["request"]
    recorded_session = record["session"]
    session = {**current["session"], **recorded_session}
    authorized = session.pop("authorized", False)
    if "location" not in recorded_session:
        session.pop("location", None)
    user = session.get("user")
    if not authorized and isinstance(user, dict) and "access_token" in user:
        # The turn was answered for a user without a linked account: so is its replay.
        session["user"] = {key: value for key, value in user.items() if key != "access_token"}
    data["session"] = session
    if "state" in record:
        data["state"] = record["state"]
    return Request(data, authorized=authorized)


def response_digest(content: dict[str, Any]) -> str:
    """Return a short digest of a fitted response content, to compare a replay with."""
    return hashlib.blake2b(_digest_json(content).encode(), digest_size=8).hexdigest()


# As protocol.compact_json, but anything JSON cannot hold is digested as its str().
_digest_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def replay(
    start: Callable[[], Generator[dict[str, Any], None, Any]],
    turns: list[Turn],
    answering: dict[str, Any],
) -> Generator[dict[str, Any], None, Any]:
    """
    Return a new generator of the script, run through *turns* with the outputs discarded;
    *answering* is the request being answered, which completes each recorded one.

    Raise ReplayDivergence when a turn does not answer as recorded, uses a different number
    of recorded() values, or ends the script.
    """
    generator = start()
    for number, turn in enumerate(turns, 1):
        context = TurnContext(
            replayed_request(turn.request, answering), number, replayed=iter(turn.values)
        )
        token = activate_turn(context)
        try:
            content = next(generator)
        except StopIteration:
            raise ReplayDivergence(number, "the script returned") from None
        except Exception as exc:
            if isinstance(exc, ReplayDivergence):
                raise
            raise ReplayDivergence(number, f"the script raised {exc!r}") from exc
        finally:
            deactivate_turn(token)
        if context.diverged is not None:  # recorded() raised, and the script caught it
            raise ReplayDivergence(number, context.diverged)
        if next(context.replayed, _MISSING) is not _MISSING:  # type: ignore[arg-type]
            raise ReplayDivergence(
                number, "the script asked for fewer recorded() values than the first time"
            )
        if not isinstance(content, dict):
            raise ReplayDivergence(number, f"the script yielded {content!r}, not say(...)")
        if response_digest(fit_response(content, quiet=True)) != turn.digest:
            raise ReplayDivergence(number, "the script answered otherwise than the first time")
    return generator
