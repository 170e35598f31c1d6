"""
Drive a script through a dialog without HTTP, for script authors' tests and the terminal chat.

    client = DialogClient(skill)
    assert client.start().text == "Добрый день! Как вас зовут?"
    assert client.say("Саша").text == "Сколько вам лет?"
"""

import copy
import importlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from alice.engine import SessionStore, Skill
from alice.engine.request_types import RequestType

from .conformance import check_answer
from .replay_check import check_replay
from .requests import DEFAULT_META, build_request, button_pressed, event, utterance
from .stores import RecordingMemoryStore

__all__ = ["DialogClient", "Reply", "load_skill"]


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
    card: dict[str, Any] | None = field(init=False)
    directives: dict[str, Any] = field(init=False)
    state: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        response = self.raw["response"]
        # An AudioPlayer event's answer has no text.
        self.text = response.get("text", "")
        self.tts = response.get("tts")
        self.buttons = response.get("buttons", [])
        self.end_session = response.get("end_session", False)
        self.card = response.get("card")
        self.directives = response.get("directives", {})
        # The top-level states the answer sent, by their protocol names.
        self.state = {
            key: self.raw[key]
            for key in ("session_state", "user_state_update", "application_state")
            if key in self.raw
        }

    @property
    def titles(self) -> list[str]:
        """Return the titles of the buttons."""
        return [button["title"] for button in self.buttons]


class DialogClient:
    """
    Talk to a skill as Alice would, one session at a time.

    Settable between requests, as a device would change them: ``meta`` (the request's
    ``meta``: time zone, interfaces; ``no_screen()`` for a smart speaker), ``access_token``
    (a linked account; None: not linked), ``yandex_user_id`` (a signed-in Yandex user),
    ``location``. ``state`` is carried as Dialogs does: the session state an answer sent
    comes back in the next request, a user_state_update is merged into the user state (a
    None value deletes its key), an application_state replaces the device's.
    """

    def __init__(
        self,
        skill: Skill | str,
        *,
        session_id: str | None = None,
        store: SessionStore | None = None,
        replay: bool = False,
        access_token: str | None = None,
        yandex_user_id: str | None = None,
        location: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        check_answers: bool = True,
    ) -> None:
        """
        Create a client of *skill* (a Skill, or a name for load_skill()).

        Every answer is checked against the protocol's schema (conformance.py), unless
        *check_answers* is False (a tool without the test dependencies).

        The sessions are kept in the skill's own store, or in *store*. With *replay* they are
        recorded in memory and every request rebuilds its dialog by replay, as a process
        that did not serve the earlier turns would, and each dialog is also replayed under
        another clock and random seed and compared (replay_check.py).
        """
        skill = load_skill(skill) if isinstance(skill, str) else skill
        self.replay = replay
        self.check_answers = check_answers
        if replay:
            store = RecordingMemoryStore(max_sessions=0, max_turns=None)
        self.skill = skill if store is None else skill.using(store)
        self.session_id = session_id or str(uuid.uuid4())
        # The application's id, also the deprecated session.user_id.
        self.user_id = uuid.uuid4().hex.upper()
        self.yandex_user_id = yandex_user_id
        self.access_token = access_token
        self.location = location
        self.meta: dict[str, Any] = copy.deepcopy(DEFAULT_META if meta is None else meta)
        self.state: dict[str, Any] = {"session": {}, "user": {}, "application": {}}
        self.state.update(copy.deepcopy(state or {}))
        self.message_id = -1
        self.reply: Reply | None = None
        self.requests: list[dict[str, Any]] = []

    def no_screen(self) -> "DialogClient":
        """Make the device a smart speaker: no screen, no account linking; return self."""
        self.meta["interfaces"] = {"audio_player": {}}
        return self

    # Utterances and buttons.

    def start(self, text: str = "") -> Reply:
        """Open a new session (the request Alice sends when the skill is launched); *text*
        is the activation phrase's request ("запусти навык ... и расскажи ...")."""
        self.message_id = -1
        self.state["session"] = {}
        if not text:
            return self.send_body(
                {"command": "", "original_utterance": "", "type": RequestType.SIMPLE_UTTERANCE}
            )
        return self.send_body(utterance(text))

    def say(
        self,
        text: str,
        *,
        entities: list[dict[str, Any]] | None = None,
        intents: dict[str, Any] | None = None,
    ) -> Reply:
        """Send *text* as an utterance; *entities* replaces the guessed NLU entities;
        *intents* are the NLU's intents (``{"YANDEX.CONFIRM": {"slots": {}}}``)."""
        return self.send_body(utterance(text, entities=entities, intents=intents))

    def press(self, title: str) -> Reply:
        """
        Tap the button called *title* in the last reply, or the card's (a BigImage's, an
        item's, the footer's) labelled or titled so.

        A button with a payload sends ButtonPressed (with no command, as Alice does); one
        without is sent as its title spoken.
        """
        for label, button in self._tappable():
            if label.lower() == title.lower():
                if "payload" not in button:
                    return self.say(label)
                return self.send_body(button_pressed(label, button["payload"]))
        raise ValueError(
            f"No button {title!r}; the last reply has {[label for label, _ in self._tappable()]}"
        )

    def _tappable(self) -> list[tuple[str, dict[str, Any]]]:
        if self.reply is None:
            return []
        found = [(button["title"], button) for button in self.reply.buttons]
        card = self.reply.card or {}
        parts = [card, *(card.get("items") or ()), card.get("footer") or {}]
        for part in parts:
            button = part.get("button")
            if isinstance(button, dict):
                found.append((button.get("text") or part.get("title") or "", button))
        return found

    # Events.

    def event(self, event_type: str, **fields: Any) -> Reply:
        """Send an event of *event_type* (a RequestType value) with *fields*."""
        return self.send_body(event(event_type, **fields))

    def account_linking_complete(self, access_token: str) -> Reply:
        """Link the account with *access_token*, as after start_account_linking(): send
        AccountLinkingComplete; the later requests carry the token."""
        self.access_token = access_token
        return self.event(RequestType.ACCOUNT_LINKING_COMPLETE)

    def geolocation_allowed(self, lat: float, lon: float, accuracy: float = 10.0) -> Reply:
        """Share the location, as after request_geolocation(); later requests carry it."""
        self.location = {"lat": lat, "lon": lon, "accuracy": accuracy}
        return self.event(RequestType.GEOLOCATION_ALLOWED)

    def geolocation_rejected(self) -> Reply:
        """Refuse to share the location."""
        return self.event(RequestType.GEOLOCATION_REJECTED)

    def audio_player(self, what: str, *, token: str = "", offset_ms: int = 0) -> Reply:
        """Report the audio player's progress: *what* is PlaybackStarted, PlaybackFinished,
        PlaybackNearlyFinished, PlaybackStopped or PlaybackFailed."""
        return self.event(f"AudioPlayer.{what}")

    def purchase_confirmation(self, purchase_request_id: str, payload: Any = None) -> Reply:
        """Confirm a purchase (Purchase.Confirmation)."""
        return self.event(
            RequestType.PURCHASE_CONFIRMATION,
            purchase_request_id=purchase_request_id,
            purchase_token=uuid.uuid4().hex,
            order_id=uuid.uuid4().hex,
            purchase_timestamp=0,
            purchase_payload=payload or {},
            signed_data="",
            signature="",
        )

    def show_pull(self) -> Reply:
        """Ask for the skill's item of the morning show (Show.Pull)."""
        return self.event(RequestType.SHOW_PULL, show_type="MORNING")

    # Others.

    def ping(self) -> Reply:
        """Send a health check, as Yandex does, in a session of its own."""
        request = build_request(
            {"command": "", "original_utterance": "ping"},
            session_id=str(uuid.uuid4()),
            message_id=0,
            application_id=self.user_id,
        )
        return Reply(self.skill.handle(request))

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send a whole protocol request as it is; return the whole response."""
        return self.skill.handle(request)

    def dialog(self, *utterances: str) -> list[Reply]:
        """Start a session, say each of *utterances*; return every reply, the greeting first."""
        return [self.start(), *(self.say(text) for text in utterances)]

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return the next request of the session around *body*, as send_body() sends it."""
        return build_request(
            body,
            session_id=self.session_id,
            message_id=self.message_id + 1,
            application_id=self.user_id,
            user_id=self.yandex_user_id,
            access_token=self.access_token,
            location=self.location,
            meta=copy.deepcopy(self.meta),
            state=copy.deepcopy(self.state),
        )

    def send_body(self, body: dict[str, Any]) -> Reply:
        """Send the next request of the session around *body* (a ``request`` object)."""
        request = self.request(body)
        self.message_id += 1
        self.requests.append(request)
        raw = self.skill.handle(request)
        if self.check_answers:
            check_answer(raw, request_type=body.get("type") or RequestType.SIMPLE_UTTERANCE)
        self.reply = Reply(raw)
        self._carry_state(self.reply)
        if self.replay:
            check_replay(self.skill, request)
        return self.reply

    def _carry_state(self, reply: Reply) -> None:
        self.state["session"] = reply.raw.get("session_state") or {}
        update = reply.raw.get("user_state_update")
        if update:
            user = self.state["user"]
            for key, value in update.items():
                if value is None:
                    user.pop(key, None)
                else:
                    user[key] = value
        if "application_state" in reply.raw:
            self.state["application"] = reply.raw["application_state"]
