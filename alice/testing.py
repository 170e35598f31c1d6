"""
Drive a script through a dialog without HTTP, for script authors' tests and the terminal chat.

    client = DialogClient(skill)
    assert client.start().text == "Добрый день! Как вас зовут?"
    assert client.say("Саша").text == "Сколько вам лет?"
"""

import importlib
import re
import threading
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from alice.engine import Held, Session, SessionStore, Skill, Turn
from alice.engine.durable import DurableSessionStore, Handle, decode_turn

__all__ = ["DialogClient", "RecordingMemoryStore", "Reply", "load_skill"]

_WORD = re.compile(r"[\w-]+")
_NUMBER = re.compile(r"-?\d+")


def load_skill(name: str) -> Skill:
    """Return the skill of the module *name*: a dotted path, or a module of alice.scripts."""
    module_name = name if "." in name else f"alice.scripts.{name}"
    module = importlib.import_module(module_name)
    skill = getattr(module, "skill", None)
    if isinstance(skill, Skill):
        return skill
    skills = [value for value in vars(module).values() if isinstance(value, Skill)]
    if len(skills) != 1:
        raise LookupError(f"{module_name} must define exactly one Skill, found {len(skills)}")
    return skills[0]


@dataclass
class Reply:
    """What the skill answered to one request."""

    raw: dict[str, Any]
    text: str = field(init=False)
    tts: str | None = field(init=False)
    buttons: list[dict[str, Any]] = field(init=False)
    end_session: bool = field(init=False)

    def __post_init__(self) -> None:
        response = self.raw["response"]
        self.text = response["text"]
        self.tts = response.get("tts")
        self.buttons = response.get("buttons", [])
        self.end_session = response["end_session"]

    @property
    def titles(self) -> list[str]:
        """Return the titles of the buttons."""
        return [button["title"] for button in self.buttons]


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


class DialogClient:
    """
    Talk to a skill as Alice would, one session at a time.

    ``say()`` sends the text as both ``command`` and ``original_utterance`` (Alice would also
    lower-case it and drop punctuation); numbers in it become YANDEX.NUMBER entities.
    """

    def __init__(
        self,
        skill: Skill | str,
        *,
        session_id: str | None = None,
        store: SessionStore | None = None,
        replay: bool = False,
    ) -> None:
        """
        Create a client of *skill* (a Skill, or a name for load_skill()).

        The sessions are kept in the skill's own store, or in *store*. With *replay* they are
        recorded in memory and every request rebuilds its dialog by replay, as a process
        that did not serve the earlier turns would: a dialog that completes this way
        survives restarts and round-robin balancing.
        """
        skill = load_skill(skill) if isinstance(skill, str) else skill
        if replay:
            store = RecordingMemoryStore(max_sessions=0, max_turns=None)
        self.skill = skill if store is None else skill.using(store)
        self.session_id = session_id or str(uuid.uuid4())
        self.user_id = uuid.uuid4().hex.upper()
        self.message_id = -1
        self.reply: Reply | None = None

    def start(self) -> Reply:
        """Open a new session (the request Alice sends when the skill is launched)."""
        self.message_id = -1
        return self._send({"command": "", "original_utterance": "", "type": "SimpleUtterance"})

    def say(self, text: str, *, entities: list[dict[str, Any]] | None = None) -> Reply:
        """Send *text* as an utterance; *entities* replaces the guessed NLU entities."""
        tokens = _WORD.findall(text.lower())
        if entities is None:
            entities = [
                {"type": "YANDEX.NUMBER", "tokens": {"start": i, "end": i + 1}, "value": int(t)}
                for i, t in enumerate(tokens)
                if _NUMBER.fullmatch(t)
            ]
        return self._send(
            {
                "command": text,
                "original_utterance": text,
                "type": "SimpleUtterance",
                "nlu": {"tokens": tokens, "entities": entities, "intents": {}},
            }
        )

    def press(self, title: str) -> Reply:
        """
        Tap the button called *title* in the last reply.

        A button with a payload sends ButtonPressed (with no command, as Alice does); one
        without is sent as its title spoken.
        """
        buttons = self.reply.buttons if self.reply else []
        button = next((b for b in buttons if b["title"].lower() == title.lower()), None)
        if button is None:
            raise ValueError(
                f"No button {title!r}; the last reply has {[b['title'] for b in buttons]}"
            )
        if "payload" not in button:
            return self.say(button["title"])
        tokens = _WORD.findall(button["title"].lower())
        return self._send(
            {
                "type": "ButtonPressed",
                "payload": button["payload"],
                "nlu": {"tokens": tokens, "entities": [], "intents": {}},
            }
        )

    def ping(self) -> Reply:
        """Send a health check, as Yandex does, in a session of its own."""
        return Reply(
            self.skill.handle(
                self._request(
                    {"command": "", "original_utterance": "ping"},
                    message_id=0,
                    new=True,
                    session_id=str(uuid.uuid4()),
                )
            )
        )

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send a whole protocol request as it is; return the whole response."""
        return self.skill.handle(request)

    def dialog(self, *utterances: str) -> list[Reply]:
        """Start a session, say each of *utterances*; return every reply, the greeting first."""
        return [self.start(), *(self.say(text) for text in utterances)]

    def _send(self, body: dict[str, Any]) -> Reply:
        self.message_id += 1
        request = self._request(body, message_id=self.message_id, new=self.message_id == 0)
        self.reply = Reply(self.skill.handle(request))
        return self.reply

    def _request(
        self, body: dict[str, Any], *, message_id: int, new: bool, session_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "meta": {"locale": "ru-RU", "timezone": "Europe/Moscow", "interfaces": {"screen": {}}},
            "request": body,
            "session": {
                "message_id": message_id,
                "session_id": session_id or self.session_id,
                "skill_id": "test-skill",
                "user_id": self.user_id,
                "application": {"application_id": self.user_id},
                "new": new,
            },
            "state": {"session": {}, "user": {}, "application": {}},
            "version": "1.0",
        }
