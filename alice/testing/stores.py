"""A recording store in this process's memory, for tests and tools."""

import threading
from dataclasses import replace
from typing import Any

from alice.engine import Held, Session, Turn
from alice.engine.durable import DurableSessionStore, Handle, decode_turn

__all__ = ["RecordingMemoryStore"]


class RecordingMemoryStore(DurableSessionStore):
    """
    Record the turns in this process's memory, as a durable store does in its backend.

    For tests: ``RecordingMemoryStore(max_sessions=0)`` keeps no generator, so every request
    replays its dialog, which shows whether a script replays to the same state. Nothing
    expires: use it for tests and tools, not to serve.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._records: dict[str, tuple[Session, list[str]]] = {}
        self._guard = threading.Lock()

    def _acquire(self, session_id: str, timeout: float | None) -> Handle:
        # One process: the local lock already serialises the session.
        return Handle(self._read(session_id))

    def _write(self, handle: Handle, session: Session, record: str | None) -> None:
        stored = replace(session, generator=None)  # a record, as a backend keeps it
        with self._guard:
            _, turns = self._records.get(session.session_id, (None, []))
            if session.turns == 1 or session.over:
                turns = []
            if record is not None:
                turns = [*turns, record]
            self._records[session.session_id] = (stored, turns)

    def _finish(self, handle: Handle, failed: bool) -> None:
        pass

    def _read(self, session_id: str) -> Session | None:
        with self._guard:
            record = self._records.get(session_id)
        if record is None:
            return None
        # A copy: the caller changes it, as it would a session read from a backend.
        return replace(record[0])

    def history(self, session_id: str, held: Held | None = None) -> list[Turn]:
        with self._guard:
            _, turns = self._records.get(session_id, (None, []))
        return [decode_turn(text) for text in turns]

    def _forget(self, session_id: str) -> None:
        with self._guard:
            self._records.pop(session_id, None)

    def __len__(self) -> int:
        """Return how many sessions are recorded."""
        return len(self._records)
