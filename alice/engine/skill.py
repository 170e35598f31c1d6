"""A skill: one script, run as a separate generator for each session."""

import copy
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, TypeVar

from .deadline import DeadlineExceeded, default_deadline
from .events import (
    AUDIO_PLAYER_PREFIX,
    SCRIPT_EVENTS,
    EventHandler,
    EventHandlers,
    awaited_by_script,
)
from .protocol import build_response, validate_request
from .replay import ReplayDivergence, recordable, replay, response_digest
from .request import Request
from .request_types import UTTERANCE_TYPES
from .response import fit_response
from .storage import (
    Held,
    Session,
    SessionBusy,
    SessionMoved,
    SessionStore,
    SessionStoreError,
    Turn,
    default_store,
)
from .turn import TurnContext, activate_turn, deactivate_turn

__all__ = ["Skill"]

logger = logging.getLogger("alice.engine")

Script = TypeVar("Script", bound=Callable[[], Generator[dict[str, Any], None, Any]])
Handler = TypeVar("Handler", bound=EventHandler)


class TurnAbandoned(Exception):
    """The turn passed its deadline: nothing of it is saved (deadline.py)."""


class Skill:
    """
    Run one script per session: the first request of a session runs it up to its first
    ``yield``, each later request resumes it up to the next one.
    """

    ping_text = "pong"
    # Sent when a script returns without end_session=True.
    closing_text = "Спасибо за разговор! До свидания."
    # Sent when a script raises; the session is over.
    apology_text = "Извините, у меня что-то сломалось. Попробуйте, пожалуйста, ещё раз."
    # Sent when the previous request of the session is still being answered.
    busy_text = "Секундочку, я ещё думаю над прошлым ответом."
    # Sent, ending the dialog, when it has taken the store's max_turns requests, or its
    # recorded turns have reached the store's max_session_bytes.
    too_long_text = "Мы разговариваем уже очень долго, давайте сделаем перерыв. До свидания!"
    # Sent, ending the dialog, when a replay of it diverged: its state cannot be rebuilt.
    lost_text = "Извините, я потеряла нить нашего разговора. Давайте начнём сначала."
    # Sent when the turn passed its deadline: it was abandoned, so the user says it again.
    deadline_text = "Секундочку, я задумалась. Повторите, пожалуйста."
    # Sent for an event (not AudioPlayer.*) that no handler answers (events.py).
    event_text = "Хорошо."

    def __init__(
        self,
        import_name: str = "alice",
        *,
        store: SessionStore | None = None,
        lock_timeout: float = 3.0,
        deadline: float | None = None,
    ) -> None:
        """
        Create a skill named after the script's module (pass ``__name__``).

        *store* keeps the sessions (by default the process-wide default store); a request
        waits at most *lock_timeout* seconds for the previous one of its session, which is
        below Alice's deadline. *deadline* is the seconds a turn may take before it is
        answered ``deadline_text`` (None: the process's default, ALICE_DEADLINE;
        ``math.inf``: no guard).
        """
        self.name = import_name
        self.lock_timeout = lock_timeout
        self.deadline = deadline
        self.events = EventHandlers()
        self._script: Callable[[], Generator[dict[str, Any], None, Any]] | None = None
        self._store = store
        self._store_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Skill {self.name!r}>"

    def script(self, function: Script) -> Script:
        """Register *function*, a generator function, as the skill's script."""
        if not inspect.isgeneratorfunction(function):
            raise TypeError(f"{function!r} must be a generator function (use yield say(...))")
        self._script = function
        return function

    def on_event(self, *types: str) -> Callable[[Handler], Handler]:
        """
        Register a handler of the events of *types* (RequestType values, or
        ``"AudioPlayer.*"``): a function of no arguments that reads ``request`` and returns
        say(...) or None. It answers the event outside the dialog (events.py).
        """

        def register(handler: Handler) -> Handler:
            self.events.register(types, handler)
            return handler

        return register

    @property
    def store(self) -> SessionStore:
        """Return the session store, building the default one on first use."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = default_store(namespace=self.name)
        return self._store

    @store.setter
    def store(self, store: SessionStore) -> None:
        self._store = store

    def using(self, store: SessionStore) -> "Skill":
        """Return a copy of this skill (same script and phrases) that keeps its sessions in
        *store*: e.g. a test's own store, or a terminal chat's."""
        twin = copy.copy(self)
        twin._store = store
        twin._store_lock = threading.Lock()
        return twin

    def handle(self, data: Any) -> dict[str, Any]:
        """
        Return the protocol response to *data*, a parsed request body.

        Raise ProtocolError when *data* is not a protocol request. Failures of the script are
        answered, never raised.
        """
        return self.respond(validate_request(data))

    def respond(self, data: dict[str, Any]) -> dict[str, Any]:
        """Return the protocol response to *data*, a request validate_request() accepted."""
        started = time.monotonic()
        current = Request(data)
        if current.is_ping:
            # Health checks must be fast and must not start a dialog.
            return build_response(
                {"text": self.ping_text, "end_session": False}, current["version"]
            )
        seconds = self.deadline if self.deadline is not None else default_deadline()
        deadline = None if seconds is None or seconds == math.inf else started + seconds
        event = current.type not in UTTERANCE_TYPES
        if event and current.type not in SCRIPT_EVENTS:
            return self._answer_event(current, deadline)
        store = self.store
        lock_timeout = self.lock_timeout
        if deadline is not None:
            # A request queued behind a running turn of its session obeys the deadline too.
            lock_timeout = max(0.0, min(lock_timeout, deadline - time.monotonic()))
        try:
            held_session = store.lock(
                current.session_id, lock_timeout, new_session=current.is_new_session
            )
            with held_session as held:
                confirm = partial(store.confirm, held) if store.records_turns else None
                try:
                    return self._answer(
                        store, held, held.session, current, confirm, deadline, event
                    )
                except SessionMoved as moved:
                    # This process's generator was behind: another process served the
                    # dialog since. The store holds the lock now, so nothing to confirm:
                    # answer from its record, in a fresh turn (the stale run's recorded
                    # values are void).
                    return self._answer(store, held, moved.stored, current, None, deadline, event)
        except TurnAbandoned:
            # Raised out of the hold, so that a durable store writes nothing and drops the
            # generator the deadline broke: the next request replays the record.
            logger.warning(
                "Skill %s: session %s passed its deadline of %s s in an outside call; the "
                "turn is abandoned.",
                self.name,
                current.session_id,
                seconds,
            )
            return build_response(
                {"text": self.deadline_text, "end_session": False}, current["version"]
            )
        except SessionBusy as exc:
            logger.warning(
                "Skill %s: session %s is busy (%s); asked to wait.",
                self.name,
                current.session_id,
                exc,
            )
            return build_response(
                {"text": self.busy_text, "end_session": False}, current["version"]
            )
        except SessionStoreError:
            logger.exception(
                "Skill %s: the session store failed in session %s.", self.name, current.session_id
            )
            return build_response(
                {"text": self.apology_text, "end_session": True}, current["version"]
            )

    def _answer(
        self,
        store: SessionStore,
        held: Held,
        session: Session | None,
        current: Request,
        confirm: Callable[[], None] | None,
        deadline: float | None = None,
        event: bool = False,
    ) -> dict[str, Any]:
        """Answer *current* while *held* holds its session; *confirm* and *deadline* are the
        turn's (TurnContext); *event*: the request is one of SCRIPT_EVENTS."""
        if (
            session is not None
            and not current.is_new_session
            and session.message_id == current.message_id
            and session.response is not None
        ):
            # A retry: answer it again without advancing the dialog.
            return session.response
        if event and (
            session is None
            or current.is_new_session
            or session.over
            or not awaited_by_script(current.type, session.response)
        ):
            # An event the script did not ask for: outside the dialog, nothing saved.
            return self._answer_event(current, deadline)
        if (
            session is None
            or current.is_new_session
            or session.over
            or (session.generator is None and not store.records_turns)
        ):
            session = Session(current.session_id, self._start())
        content = None
        limit = _limit_reached(store, session)
        if limit is not None:
            # A replay's work grows with the record: the dialog ends before it gets slow.
            logger.warning(
                "Skill %s: session %s %s; closing it.", self.name, session.session_id, limit
            )
            content = {"text": self.too_long_text, "end_session": True}
        elif session.generator is None:
            # Another process served the earlier turns, or this one restarted or evicted the
            # dialog: rebuild the generator from the recorded turns.
            session.generator = self._replay(store, held, session, current)
            if session.generator is None:
                content = {"text": self.lost_text, "end_session": True}
        turn = None
        if content is None:
            context = TurnContext(current, session.turns + 1, confirm=confirm, deadline=deadline)
            content = self._advance(session, context)
            if context.abandoned:
                if not store.records_turns:
                    # No record to rebuild the broken generator from: the next request
                    # starts the script over.
                    store.delete(session.session_id)
                raise TurnAbandoned
            session.turns += 1
            if store.records_turns and not content["end_session"]:
                turn = Turn(recordable(current), context.values, response_digest(content))
        response = build_response(content, current["version"])
        session.message_id = current.message_id
        session.response = response
        if content["end_session"]:
            session.generator = None
            session.over = True
        store.save(held, session, turn)
        return response

    def _replay(
        self, store: SessionStore, held: Held, session: Session, current: Request
    ) -> Generator[dict[str, Any], None, Any] | None:
        """Return the session's generator rebuilt from its recorded turns, or None."""
        turns = store.history(session.session_id, held)
        try:
            if len(turns) != session.turns:
                raise ReplayDivergence(
                    len(turns), f"{len(turns)} turns are recorded of {session.turns}"
                )
            return replay(self._start, turns, current)
        except ReplayDivergence as exc:
            # Never go on in a state the user did not reach: end the dialog, loudly.
            logger.error(
                "Skill %s: the replay of session %s diverged at %s; the dialog is ended.",
                self.name,
                session.session_id,
                exc,
                exc_info=exc.__cause__ is not None,
            )
            return None

    def _start(self) -> Generator[dict[str, Any], None, Any]:
        if self._script is None:
            raise RuntimeError(f"{self!r} has no script: decorate one with @skill.script")
        return self._script()

    def _advance(self, session: Session, turn: TurnContext) -> dict[str, Any]:
        """Run the script up to its next yield, in *turn*; return the content it gives."""
        assert session.generator is not None
        token = activate_turn(turn)
        try:
            content = next(session.generator)
        except DeadlineExceeded:
            return {}  # the turn is abandoned (turn.abandoned), this is never sent
        except StopIteration:
            logger.warning(
                "Skill %s: the script returned without end_session=True "
                "(session %s); closing the session.",
                self.name,
                session.session_id,
            )
            content = {"text": self.closing_text, "end_session": True}
        except Exception:
            logger.exception(
                "Skill %s: the script failed in session %s; the session is dropped.",
                self.name,
                session.session_id,
            )
            content = {"text": self.apology_text, "end_session": True}
        finally:
            deactivate_turn(token)
        if not isinstance(content, dict):
            logger.error(
                "Skill %s: the script yielded %r, not say(...), in session %s; the "
                "session is dropped.",
                self.name,
                content,
                session.session_id,
            )
            content = {"text": self.apology_text, "end_session": True}
        return fit_response(content)

    def _answer_event(self, current: Request, deadline: float | None) -> dict[str, Any]:
        """Answer an event outside the dialog: its handler's answer, or the default one."""
        audio = current.type.startswith(AUDIO_PLAYER_PREFIX)
        handler = self.events.find(current.type)
        content: dict[str, Any] | None = None
        if handler is not None:
            token = activate_turn(TurnContext(current, deadline=deadline))
            try:
                content = handler()
            except (Exception, DeadlineExceeded):
                logger.exception(
                    "Skill %s: the handler of %s failed in session %s.",
                    self.name,
                    current.type,
                    current.session_id,
                )
                content = None if audio else {"text": self.apology_text}
            finally:
                deactivate_turn(token)
        if content is None:
            content = {} if audio else {"text": self.event_text}
        if not isinstance(content, dict):
            logger.error(
                "Skill %s: the handler of %s returned %r, not say(...) or None.",
                self.name,
                current.type,
                content,
            )
            content = {} if audio else {"text": self.apology_text}
        return build_response(fit_response(content, text_required=not audio), current["version"])


def _limit_reached(store: SessionStore, session: Session) -> str | None:
    """Return which of the store's caps on a dialog *session* has reached, or None."""
    if store.max_turns is not None and session.turns >= store.max_turns:
        return f"reached {session.turns} turns"
    if store.max_session_bytes is not None and session.recorded_bytes >= store.max_session_bytes:
        return f"recorded {session.recorded_bytes} bytes of turns"
    return None
