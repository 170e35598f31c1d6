"""
The turn a script is running: what the engine tracks of it beside the request the script sees.

The skill (a live turn) and replay() (a recorded one) make a TurnContext for every turn and
make it current while the script runs; recorded() and ``request.random`` read it. The
request stays the user-facing dict.
"""

import hashlib
import random
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .request import Request

__all__ = ["TurnContext", "activate_turn", "current_turn", "deactivate_turn", "turn_seed"]


@dataclass(slots=True, eq=False)
class TurnContext:
    """One turn of a dialog while its script runs."""

    # The request the turn answers.
    request: "Request"
    # The turn's place in its dialog: 1 for the request that started the script (0 outside
    # a dialog). It seeds ``request.random``.
    number: int = 0
    # On a replay, the values recorded() returned the first time, handed back in order;
    # None on the live run.
    replayed: Iterator[Any] | None = None
    # Called once before the live turn's first recorded() call: a durable store that ran the
    # turn on its generator without a lock confirms it there (see durable.py).
    confirm: Callable[[], None] | None = None
    # The outside values recorded() returned on the live run, kept with the turn.
    values: list[Any] = field(default_factory=list)
    # Why a replay cannot go on (set by recorded(), which a script may catch).
    diverged: str | None = None
    # When the live turn must have answered (time.monotonic()), or None: recorded() waits
    # for an outside call until then (deadline.py).
    deadline: float | None = None
    # The deadline passed during an outside call: the turn is abandoned, whatever the
    # script did with the DeadlineExceeded.
    abandoned: bool = False
    _random: random.Random | None = None

    @property
    def replaying(self) -> bool:
        """Return whether the turn is a replay of a recorded one."""
        return self.replayed is not None

    @property
    def random(self) -> random.Random:
        """Return the turn's random generator: the same numbers on every replay of it."""
        if self._random is None:
            self._random = random.Random(turn_seed(self.request.session_id, self.number))
        return self._random


def turn_seed(session_id: str, turn: int) -> int:
    """Return the seed of a turn: the same in every process (hash() is salted per process)."""
    digest = hashlib.blake2b(f"{session_id}\0{turn}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


_current: ContextVar[TurnContext] = ContextVar("alice_turn")


def current_turn() -> TurnContext | None:
    """Return the turn of this context, or None outside a running script."""
    return _current.get(None)


def activate_turn(turn: TurnContext) -> Token[TurnContext]:
    """Make *turn* the turn of this context; pass the token to deactivate_turn()."""
    return _current.set(turn)


def deactivate_turn(token: Token[TurnContext]) -> None:
    """Restore the turn that was current before activate_turn()."""
    _current.reset(token)
