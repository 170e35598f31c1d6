"""
Rebuilding a dialog in any process: replaying its turns, outside values, divergence checks.

A recording store keeps, for each turn, the request (minus secrets), the values recorded()
returned and a digest of the response. Running those requests through a fresh generator, the
outputs discarded, brings it to the state the dialog was in, provided that the script reads
nothing else that can change: the request, ``request.random`` (say() picks its variants
with it) and recorded() values. A replay that answers a turn otherwise than the first time
has diverged; the skill then ends the dialog rather than go on in a wrong state.
"""

import hashlib
import json
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from .request import Request, activate, current_request, deactivate
from .response import fit_response
from .storage import Turn

__all__ = ["ReplayDivergence", "recordable", "recorded", "replay", "response_digest"]

T = TypeVar("T")

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
    no effects. The value is stored with the turn as JSON, and comes back as JSON gives it
    (a tuple as a list) on the live run as well; anything JSON cannot hold is a TypeError.
    """
    current = current_request()
    if current is None:
        raise RuntimeError("recorded() is only available while a script handles a request")
    if current._replayed is not None:
        value = next(current._replayed, _MISSING)
        if value is _MISSING:
            current._diverged = "the script asked for more recorded() values than the first time"
            raise ReplayDivergence(current._turn, current._diverged)
        return value  # type: ignore[return-value]
    if current._before_recording is not None:
        # The turn may be running on a generator that another process has since moved past:
        # confirm it (which may end the turn) before reaching outside, which is not undone.
        confirm, current._before_recording = current._before_recording, None
        confirm()
    value = function(*args, **kwargs)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"recorded(): {function!r} returned a {type(value).__name__}, which is not "
            "stored as JSON; return a str, number, bool, None, list or dict"
        ) from exc
    value = json.loads(text)
    current._values.append(value)
    return value


def recordable(current: Request) -> dict[str, Any]:
    """Return the request as a turn keeps it: without the user's access_token."""
    data = dict(current)
    session = data["session"]
    user = session.get("user")
    if isinstance(user, dict) and "access_token" in user:
        user = {key: value for key, value in user.items() if key != "access_token"}
        data["session"] = {**session, "user": user}
    return data


def response_digest(content: dict[str, Any]) -> str:
    """Return a short digest of a fitted response content, to compare a replay with."""
    data = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(data.encode(), digest_size=8).hexdigest()


def replay(
    start: Callable[[], Generator[dict[str, Any], None, Any]], turns: list[Turn]
) -> Generator[dict[str, Any], None, Any]:
    """
    Return a new generator of the script, run through *turns* with the outputs discarded.

    Raise ReplayDivergence when a turn does not answer as recorded, uses a different number
    of recorded() values, or ends the script.
    """
    generator = start()
    for number, turn in enumerate(turns, 1):
        current = Request(turn.request)
        current._turn = number
        current._replayed = iter(turn.values)
        token = activate(current)
        try:
            content = next(generator)
        except StopIteration:
            raise ReplayDivergence(number, "the script returned") from None
        except Exception as exc:
            if isinstance(exc, ReplayDivergence):
                raise
            raise ReplayDivergence(number, f"the script raised {exc!r}") from exc
        finally:
            deactivate(token)
        if current._diverged is not None:  # recorded() raised, and the script caught it
            raise ReplayDivergence(number, current._diverged)
        if next(current._replayed, _MISSING) is not _MISSING:
            raise ReplayDivergence(
                number, "the script asked for fewer recorded() values than the first time"
            )
        if not isinstance(content, dict):
            raise ReplayDivergence(number, f"the script yielded {content!r}, not say(...)")
        if response_digest(fit_response(content, quiet=True)) != turn.digest:
            raise ReplayDivergence(number, "the script answered otherwise than the first time")
    return generator
