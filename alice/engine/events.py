"""
Events: the requests Dialogs sends that are not the user speaking or tapping a button.

The model (docs/alice.md, "Events"):

- An event the script asked for reaches the script as a turn of the dialog: after an
  answer with start_account_linking(), the AccountLinkingComplete request; after one with
  request_geolocation(), Geolocation.Allowed or Geolocation.Rejected. The script waits for
  it by reading ``request.type`` after its yield (the user may also just say something).
- Every other event (AudioPlayer.*, Purchase.Confirmation, Show.Pull, and the ones above
  when the script did not ask) is answered by the skill's handler for its type
  (``@skill.on_event(...)``), outside the dialog: no turn is recorded or counted, the
  dialog's generator does not move, and the next utterance continues the dialog where it
  was. Without a handler: an AudioPlayer event gets an empty answer (Dialogs takes no text
  for them), any other ``Skill.event_text``.
"""

from collections.abc import Callable
from typing import Any

from .request_types import EVENT_TYPES, RequestType

__all__ = ["AUDIO_PLAYER_PREFIX", "SCRIPT_EVENTS", "EventHandlers", "awaited_by_script"]

EventHandler = Callable[[], dict[str, Any] | None]

AUDIO_PLAYER_PREFIX = "AudioPlayer."
# The events that reach the script when its last answer carried the directive that asks
# for them.
SCRIPT_EVENTS = {
    RequestType.ACCOUNT_LINKING_COMPLETE: "start_account_linking",
    RequestType.GEOLOCATION_ALLOWED: "request_geolocation",
    RequestType.GEOLOCATION_REJECTED: "request_geolocation",
}


def awaited_by_script(event_type: str, last_response: dict[str, Any] | None) -> bool:
    """Return whether *last_response* (the dialog's last answer, the whole protocol answer)
    asked for the event *event_type*."""
    directive = SCRIPT_EVENTS.get(event_type)
    if directive is None or not last_response:
        return False
    return directive in ((last_response.get("response") or {}).get("directives") or {})


class EventHandlers:
    """A skill's handlers, by event type; ``"AudioPlayer.*"`` stands for every AudioPlayer
    event."""

    def __init__(self) -> None:
        self._handlers: dict[str, EventHandler] = {}

    def register(self, types: tuple[str, ...], handler: EventHandler) -> None:
        """Make *handler* answer the events of *types*; raise ValueError on an unknown one."""
        if not types:
            raise ValueError("on_event() needs at least one event type, e.g. 'Show.Pull'")
        for event_type in types:
            if event_type != AUDIO_PLAYER_PREFIX + "*" and event_type not in EVENT_TYPES:
                raise ValueError(
                    f"{event_type!r} is not an event type: one of {sorted(EVENT_TYPES)} "
                    "or 'AudioPlayer.*'"
                )
            self._handlers[event_type] = handler

    def find(self, event_type: str) -> EventHandler | None:
        """Return the handler of *event_type*, or None."""
        handler = self._handlers.get(event_type)
        if handler is None and event_type.startswith(AUDIO_PLAYER_PREFIX):
            handler = self._handlers.get(AUDIO_PLAYER_PREFIX + "*")
        return handler
