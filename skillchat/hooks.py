"""The skillchat side of privatemessages' generic bot support (privatemessages.bots)."""

from django.utils import timezone

from privatemessages import bots

from . import runner


def on_message_committed(sender, *, message, participants: dict[int, str], **kwargs) -> None:
    """
    A message committed: if the thread's partner is a skill and the skill did not send it,
    have the skill answer. One set lookup per participant: people's threads cost no query.
    """
    if bots.bot_among(participants) is None or bots.is_bot(message.sender_id):
        return  # a people's thread, or a skill's own message (skills never answer skills)
    runner.schedule(message.thread_id, message_id=message.pk, zone=active_zone_name())


def active_zone_name() -> str | None:
    """The zone the request that sent the message activated (timezones/), if any."""
    # Django keeps the activated zone here; get_current_timezone() would give the default.
    zone = getattr(timezone._active, "value", None)
    return getattr(zone, "key", None)
