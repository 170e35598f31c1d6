"""
Typed views of a request's parts: its type, the intents and entities Alice's NLU found, the
device (meta), the states Dialogs keeps for the skill. ``request`` hands them out.
"""

from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "UTTERANCE_TYPES",
    "Entities",
    "EntityType",
    "Intent",
    "IntentName",
    "Intents",
    "Interfaces",
    "Meta",
    "RequestType",
    "Slot",
    "State",
]


class RequestType:
    """The values of ``request.type``."""

    SIMPLE_UTTERANCE = "SimpleUtterance"
    BUTTON_PRESSED = "ButtonPressed"
    AUDIO_PLAYER_PLAYBACK_STARTED = "AudioPlayer.PlaybackStarted"
    AUDIO_PLAYER_PLAYBACK_FINISHED = "AudioPlayer.PlaybackFinished"
    AUDIO_PLAYER_PLAYBACK_NEARLY_FINISHED = "AudioPlayer.PlaybackNearlyFinished"
    AUDIO_PLAYER_PLAYBACK_STOPPED = "AudioPlayer.PlaybackStopped"
    AUDIO_PLAYER_PLAYBACK_FAILED = "AudioPlayer.PlaybackFailed"
    PURCHASE_CONFIRMATION = "Purchase.Confirmation"
    SHOW_PULL = "Show.Pull"
    GEOLOCATION_ALLOWED = "Geolocation.Allowed"
    GEOLOCATION_REJECTED = "Geolocation.Rejected"
    ACCOUNT_LINKING_COMPLETE = "AccountLinkingComplete"


# What the user said or tapped: these run the script.
UTTERANCE_TYPES = frozenset((RequestType.SIMPLE_UTTERANCE, RequestType.BUTTON_PRESSED))
# Everything else Dialogs sends: events (see Skill.on_event and docs/alice.md, "Events").
EVENT_TYPES = frozenset(
    value
    for name, value in vars(RequestType).items()
    if name.isupper() and value not in UTTERANCE_TYPES
)


class IntentName:
    """Yandex's built-in intents (on when the skill enables them in the console)."""

    CONFIRM = "YANDEX.CONFIRM"
    REJECT = "YANDEX.REJECT"
    HELP = "YANDEX.HELP"
    REPEAT = "YANDEX.REPEAT"
    WHAT_CAN_YOU_DO = "YANDEX.WHAT_CAN_YOU_DO"


class EntityType:
    """The types of Alice's named entities."""

    NUMBER = "YANDEX.NUMBER"
    FIO = "YANDEX.FIO"
    GEO = "YANDEX.GEO"
    DATETIME = "YANDEX.DATETIME"


@dataclass(frozen=True, slots=True)
class Slot:
    """A slot of an intent: its entity type, its value, and the tokens it took."""

    type: str | None
    value: Any
    tokens: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Intent:
    """An intent Alice's NLU recognised, with its filled slots by name."""

    name: str
    slots: dict[str, Slot]

    def slot(self, name: str, default: Any = None) -> Any:
        """Return the value of the slot *name*, or *default* when it is not filled."""
        found = self.slots.get(name)
        return default if found is None else found.value


class Intents(dict[str, Intent]):
    """The recognised intents by name: ``"order" in request.intents``,
    ``request.intents["order"].slot("size")``, ``request.intents.confirm``."""

    @classmethod
    def parse(cls, raw: Any) -> "Intents":
        """Return the intents of ``nlu.intents``; a malformed one is left out."""
        intents = cls()
        if not isinstance(raw, dict):
            return intents
        for name, body in raw.items():
            slots = (body or {}).get("slots") if isinstance(body, dict) else None
            parsed = {}
            if isinstance(slots, dict):
                for slot_name, slot in slots.items():
                    if isinstance(slot, dict):
                        parsed[slot_name] = Slot(
                            slot.get("type"), slot.get("value"), slot.get("tokens")
                        )
            intents[name] = Intent(name, parsed)
        return intents

    @property
    def confirm(self) -> bool:
        """Return whether the user agreed (YANDEX.CONFIRM: "да", "конечно", ...)."""
        return IntentName.CONFIRM in self

    @property
    def reject(self) -> bool:
        """Return whether the user declined (YANDEX.REJECT: "нет", "не надо", ...)."""
        return IntentName.REJECT in self

    @property
    def help(self) -> bool:
        """Return whether the user asked for help (YANDEX.HELP)."""
        return IntentName.HELP in self

    @property
    def repeat(self) -> bool:
        """Return whether the user asked to repeat (YANDEX.REPEAT)."""
        return IntentName.REPEAT in self


class Entities(list[dict[str, Any]]):
    """The NLU entities, in utterance order; ``of(type)`` keeps those of one type."""

    def of(self, entity_type: str) -> list[dict[str, Any]]:
        """Return the entities of *entity_type* (an EntityType), in utterance order."""
        return [entity for entity in self if entity.get("type") == entity_type]

    def values(self, entity_type: str) -> list[Any]:
        """Return the values of the entities of *entity_type*."""
        return [entity.get("value") for entity in self if entity.get("type") == entity_type]


@dataclass(frozen=True, slots=True)
class Interfaces:
    """What the device can do (``meta.interfaces``)."""

    screen: bool
    account_linking: bool
    audio_player: bool
    payments: bool


@dataclass(frozen=True, slots=True)
class Meta:
    """The device: its locale, time zone, client and interfaces."""

    locale: str
    timezone: str
    client_id: str
    interfaces: Interfaces

    @classmethod
    def parse(cls, raw: Any) -> "Meta":
        """Return the meta of a request (``{}`` when absent)."""
        raw = raw if isinstance(raw, dict) else {}
        interfaces = raw.get("interfaces")
        interfaces = interfaces if isinstance(interfaces, dict) else {}
        return cls(
            locale=raw.get("locale") or "",
            timezone=raw.get("timezone") or "",
            client_id=raw.get("client_id") or "",
            interfaces=Interfaces(
                screen="screen" in interfaces,
                account_linking="account_linking" in interfaces,
                audio_player="audio_player" in interfaces,
                payments="payments" in interfaces,
            ),
        )

    @property
    def has_screen(self) -> bool:
        """Return whether the device shows text, buttons and cards."""
        return self.interfaces.screen


@dataclass(frozen=True, slots=True)
class State:
    """What Dialogs kept for the skill and sent back (``state``): empty dicts when absent.

    ``session``: the last ``session_state`` sent in this session; ``user``: the user's
    state (Yandex-authorised users only); ``application``: the device's."""

    session: dict[str, Any]
    user: dict[str, Any]
    application: dict[str, Any]

    @classmethod
    def parse(cls, raw: Any) -> "State":
        """Return the state of a request."""
        raw = raw if isinstance(raw, dict) else {}

        def part(key: str) -> dict[str, Any]:
            value = raw.get(key)
            return value if isinstance(value, dict) else {}

        return cls(part("session"), part("user"), part("application"))
