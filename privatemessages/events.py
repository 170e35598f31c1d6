"""
The real-time events: their group names and payload shapes, and sending them.

This module alone knows what goes over the channel layer; the consumer only
forwards what it receives here (see docs/protocol.md).
"""

import logging
from datetime import UTC

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .models import Message

logger = logging.getLogger(__name__)


def thread_group(thread_id: int) -> str:
    """Group of every socket open on the chat page of one thread."""
    return f"pm.thread.{thread_id}"


def user_group(user_id: int) -> str:
    """Group of every socket one user has open (for the live thread list)."""
    return f"pm.user.{user_id}"


def message_payload(message: Message, *, client_id: str | None = None) -> dict:
    """Return the wire form of *message* (``{"type": "message", ...}``)."""
    return {
        "type": "message",
        "id": message.pk,
        "thread": message.thread_id,
        "sender": message.sender.get_username(),
        "sender_id": message.sender_id,
        "text": message.text,
        "created": message.created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "client_id": client_id,
    }


def thread_payload(message: Message, *, for_user_id: int, partner: str, total: int) -> dict:
    """Return the thread-list update one participant receives for *message*."""
    return {
        "type": "thread",
        "thread": message.thread_id,
        "url": message.thread.get_absolute_url(),
        "partner": partner,
        "total": total,
        "last_message": message_payload(message),
        "outgoing": message.sender_id == for_user_id,
    }


def broadcast_message_created(
    message: Message,
    *,
    client_id: str | None,
    participants: dict[int, str],
    total: int,
) -> None:
    """
    Send a committed *message* to its thread's sockets and to each participant's
    thread list. *participants* maps user id to username.

    A failure here loses nothing: the message is already saved and clients
    resync from the database when they reconnect.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send_all)(layer, message, client_id, participants, total)
    except Exception:
        logger.exception("Could not broadcast message %s", message.pk)


async def _send_all(layer, message, client_id, participants, total) -> None:
    await layer.group_send(
        thread_group(message.thread_id),
        {"type": "chat.message", "message": message_payload(message, client_id=client_id)},
    )
    for user_id, _username in participants.items():
        partner = next(
            (name for uid, name in participants.items() if uid != user_id), ""
        )
        await layer.group_send(
            user_group(user_id),
            {
                "type": "thread.update",
                "thread": thread_payload(
                    message, for_user_id=user_id, partner=partner, total=total
                ),
            },
        )
