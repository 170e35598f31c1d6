"""
The replay check of ``DialogClient(..., replay=True)``: catch what a script reads outside
``recorded()`` even when it changes no answer yet.

After each request the client's dialog is rebuilt twice from its record, once as is and
once under a clock moved a day and an hour ahead (time-machine: ``time.time()``,
``datetime.now()``, ``date.today()``...) and another seed of the ``random`` module. The two
replays must answer every turn as recorded, and the generators they leave must hold the
same values in the same variables, frame by frame down the ``yield from`` chain. A variable
that differs names the path to it (``run_script.started``).

What it guarantees, and what not: a value drawn from the clock or the ``random`` module (or
``os.urandom``, ``uuid.uuid4()``, which differ on every run anyway) outside ``recorded()``
and kept in a local variable of the script's generators, or sent in an answer, fails the
test. Values are compared when they are None, bool, int, float, str, or lists, tuples and
dicts of them; other objects are not compared. Not caught: ``time.monotonic()`` and
``time.perf_counter()`` (not moved), a value read and dropped without trace, and reads of
other outside state (a database, a global counter) that the two replays see alike.
"""

import datetime
import random
from collections.abc import Generator
from typing import Any

from alice.engine import Skill
from alice.engine.replay import ReplayDivergence, replay

__all__ = ["ReplayCheckFailed", "check_replay", "generator_values"]

# The clock of the second replay: far enough to change a date, an hour, a minute.
CLOCK_SHIFT = datetime.timedelta(days=1, hours=1, minutes=1, seconds=1)
_SEEDS = (20181203, 20261130)
_SCALARS = (type(None), bool, int, float, str)
_OPAQUE = object()


class ReplayCheckFailed(AssertionError):
    """The script reads the clock or randomness outside recorded()."""


def _comparable(value: Any, depth: int = 0) -> Any:
    """Return *value* as compared, or _OPAQUE for what is not compared."""
    if isinstance(value, _SCALARS):
        return value
    if depth < 5 and isinstance(value, list | tuple):
        return [_comparable(item, depth + 1) for item in value]
    if depth < 5 and isinstance(value, dict):
        return {str(key): _comparable(item, depth + 1) for key, item in value.items()}
    return _OPAQUE


def generator_values(generator: Generator[Any, Any, Any]) -> dict[str, Any]:
    """Return the comparable local variables of *generator* and the generators it
    delegates to with ``yield from``, by path (``outer>inner.name``)."""
    values: dict[str, Any] = {}
    path = ""
    current: Any = generator
    while current is not None and getattr(current, "gi_frame", None) is not None:
        path = f"{path}>{current.gi_code.co_qualname}" if path else current.gi_code.co_qualname
        for name, value in current.gi_frame.f_locals.items():
            comparable = _comparable(value)
            if comparable is not _OPAQUE:
                values[f"{path}.{name}"] = comparable
        current = current.gi_yieldfrom
    return values


def _replayed(skill: Skill, request: dict[str, Any], seed: int) -> dict[str, Any]:
    state = random.getstate()
    random.seed(seed)
    try:
        turns = skill.store.history(request["session"]["session_id"])
        if not turns:
            return {}
        generator = replay(skill._start, turns, request)
        values = generator_values(generator)
        generator.close()
        return values
    finally:
        random.setstate(state)


def check_replay(skill: Skill, request: dict[str, Any]) -> None:
    """
    Rebuild the dialog of *request* (just answered by *skill*, whose store records turns)
    twice, under two clocks and two random seeds; raise ReplayCheckFailed when the two
    differ in an answer or in a variable of the script.
    """
    import time_machine  # a test tool's dependency: imported only when checking

    try:
        plain = _replayed(skill, request, _SEEDS[0])
        destination = datetime.datetime.now(datetime.UTC) + CLOCK_SHIFT
        with time_machine.travel(destination, tick=True):
            shifted = _replayed(skill, request, _SEEDS[1])
    except ReplayDivergence as exc:
        raise ReplayCheckFailed(
            f"replayed under another clock and random seed, the dialog diverged at {exc}: "
            "the script reads the time or randomness outside recorded()"
        ) from exc
    differing = sorted(
        path for path in plain.keys() | shifted.keys() if plain.get(path) != shifted.get(path)
    )
    if differing:
        raise ReplayCheckFailed(
            f"{', '.join(differing)} differ when the dialog is replayed under another clock "
            "and random seed: the script reads the time or randomness outside recorded() "
            f"(one replay: {[plain.get(p) for p in differing]}, "
            f"the other: {[shifted.get(p) for p in differing]})"
        )
