"""
The order in which one chat socket delivers a thread's messages: every
message after the id the client synced from, each once, in id order.

Plain state, no I/O: the consumer replays from the database, sends the
frames and runs the reorder timer; LiveOrder says what to send and when the
database has to fill a gap.
"""

# How long a live message that came before its predecessor waits for it
# before the gap is read from the database, in seconds.
REORDER_WAIT = 0.05


class LiveOrder:
    """
    One socket's place in its thread. After the client's first sync, live
    events (``chat.message`` group events, which name the id of the thread's
    previous message in ``prev_id``) go out only in id order: an older or
    repeated one is dropped, and one whose predecessor has not come yet waits
    for it. While any wait (``waiting``), the consumer calls ``gap_due`` after
    REORDER_WAIT to learn where to replay from.
    """

    def __init__(self) -> None:
        # The id of the newest message this socket has delivered (or the
        # client said it has); None until the client's first sync.
        self.last_id: int | None = None
        # Whether the last sync answered "more": false. Live messages go out
        # only then; during a catch-up in pages the next sync replays them, and
        # a live one would open a gap that gap_due would read past the replay
        # budget.
        self.caught_up = False
        # Live events that came before their predecessor, by its id.
        self._early: dict[int, dict] = {}

    @property
    def waiting(self) -> bool:
        """Whether live events wait for their predecessor."""
        return bool(self._early)

    def sync_from(self, after: int) -> int:
        """Return the id a sync the client asked from *after* replays from."""
        if self.last_id is None:
            return after
        # What this socket already delivered is on its way to the client.
        return max(after, self.last_id)

    def synced(self, last_id: int, *, more: bool) -> None:
        """A sync's replay went out up to *last_id*; *more* if it stopped short."""
        self.last_id = last_id
        self.caught_up = not more

    def sync_held(self) -> None:
        """A sync sent nothing (the replay budget held it): the next one replays."""
        self.caught_up = False

    def replayed(self, message_id: int) -> None:
        """A stored message went out (a replay, from the database)."""
        self.last_id = message_id

    def live(self, event: dict) -> list[dict]:
        """Take a live ``chat.message`` event; return those to send now, in order."""
        if not self.caught_up:
            return []  # the next sync replays it from the database
        message_id = event["message"]["id"]
        if message_id <= self.last_id:
            return []  # delivered already
        prev_id = event.get("prev_id")
        if prev_id is not None and prev_id > self.last_id:
            # Its predecessor has not come. Usually it was announced at the
            # same moment by another process or database thread and is a few
            # milliseconds behind: wait for it a little (a live event can also
            # be lost for good, and then gap_due has it read).
            self._early[prev_id] = event
            return []
        self.last_id = message_id
        if not self._early:
            return [event]
        ready = [event]
        # Those that came before this one and waited for it.
        while (waiting := self._early.pop(self.last_id, None)) is not None:
            ready.append(waiting)
            self.last_id = waiting["message"]["id"]
        return ready

    def gap_due(self) -> int | None:
        """
        The wait is over: forget the waiting events, and return the id to
        replay from if a message is still missing before one of them.
        """
        waiting, self._early = self._early, {}
        if any(event["message"]["id"] > self.last_id for event in waiting.values()):
            return self.last_id
        return None
