"""
The real-time events: their group names and payload shapes, and sending them.

This module alone knows what goes over the channel layer; the consumer only
forwards what it receives here (see docs/protocol.md).
"""

import json
import logging
from datetime import UTC, datetime

from django.utils.crypto import salted_hmac
from django.utils.text import Truncator

from . import selectors
from .group_send import group_send_many
from .models import Message

logger = logging.getLogger(__name__)


def iso_utc(moment: datetime) -> str:
    """Return *moment* as the wire's ISO 8601 UTC timestamp ("2026-01-02T03:04:05.678Z")."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def thread_group(thread_id: int) -> str:
    """Group of every socket open on the chat page of one thread."""
    return f"pm.thread.{thread_id}"


def user_group(user_id: int) -> str:
    """Group of every socket one user has open (for the live thread list)."""
    return f"pm.user.{user_id}"


# The one group that carries ``session.ended`` for every user: each process
# subscribes to it once (session_watch.py) and hands an event to the sockets
# of its user, so open sockets cost no subscription of their own for an event
# this rare.
SESSIONS_GROUP = "pm.sessions"

SESSION_ENDED = "session.ended"


def session_digest(session_key: str | None) -> str | None:
    """
    Name a session in events without its key, which is a credential and
    would otherwise travel through Redis.
    """
    if not session_key:
        return None
    return salted_hmac("privatemessages.session", session_key, algorithm="sha256").hexdigest()[:32]


def session_ended_event(user_id: int, session_key: str | None) -> dict:
    """
    The event that ends *user_id*'s sockets of the session *session_key*, or of
    all the user's sessions (None).
    """
    return {"type": SESSION_ENDED, "user": user_id, "session": session_digest(session_key)}


def session_ends_socket(event: dict, socket_session_digest: str | None) -> bool:
    """Whether the ``session.ended`` *event* ends a socket opened with that session."""
    ended = event.get("session")
    return ended is None or ended == socket_session_digest


def announce_sessions_ended(user_id: int, *, session_key: str | None = None) -> None:
    """
    Close *user_id*'s sockets on every process: those opened with the session
    *session_key*, or all of them when it is None. From synchronous code.
    """
    try:
        group_send_many([(SESSIONS_GROUP, session_ended_event(user_id, session_key))])
    except Exception:
        logger.exception("Could not announce the end of sessions of user %s", user_id)


def message_payload(message: Message, *, client_id: str | None = None) -> dict:
    """Return the wire form of *message* (``{"type": "message", ...}``)."""
    return {
        "type": "message",
        "id": message.pk,
        "thread": message.thread_id,
        # None for a deleted account: its messages stay in the partner's history.
        "sender": message.sender.get_username() if message.sender_id else None,
        "sender_id": message.sender_id,
        "text": message.text,
        "created": iso_utc(message.created),
        "client_id": client_id,
    }


def stored_message_payload(message: Message) -> dict:
    """Return the wire form of a saved *message*, with the client_id it was sent with."""
    return message_payload(message, client_id=message.client_id or None)


def message_for_user(payload: dict, user_id: int) -> dict:
    """
    Return the message payload as *user_id* receives it: the client_id is echoed
    to its sender's own sockets only (it lets the sending tab confirm its line).
    """
    if payload.get("client_id") is None or payload.get("sender_id") == user_id:
        return payload
    return {**payload, "client_id": None}


def thread_payloads(message: Message, *, participants: dict[int, str], total: int) -> dict:
    """
    Return the thread-list update each participant receives for *message*:
    participant id -> payload. *participants* maps user id to username.
    """
    # The same for every participant but "partner" and "outgoing": built once.
    common = {
        "type": "thread",
        "thread": message.thread_id,
        "url": message.thread.get_absolute_url(),
        "total": total,
        "last_message": message_payload(message),
        "preview": Truncator(message.text).chars(selectors.PREVIEW_LENGTH),
    }
    return {
        user_id: {
            **common,
            "partner": next((name for uid, name in participants.items() if uid != user_id), ""),
            "outgoing": message.sender_id == user_id,
        }
        for user_id in participants
    }


def thread_summary_payload(summary: selectors.ThreadSummary) -> dict:
    """
    Return one line of the thread list in the shape of thread_payloads (its
    ``last_message`` carries only ``id`` and ``created``), for a resync.
    """
    created = summary.last_message_created
    return {
        "type": "thread",
        "thread": summary.pk,
        "url": summary.get_absolute_url(),
        "partner": summary.partner,
        "total": summary.total,
        "last_message": {
            "id": summary.last_message_id,
            "created": iso_utc(created) if created is not None else None,
        },
        "preview": summary.last_message_preview,
        "outgoing": summary.last_message_outgoing,
    }


def broadcast_message_created(
    message: Message,
    *,
    client_id: str | None,
    participants: dict[int, str],
    total: int,
    prev_id: int | None = None,
) -> None:
    """
    Send a committed *message* to its thread's sockets and to each participant's
    thread list. *participants* maps user id to username; *prev_id* is the id
    of the thread's message before this one (0 for the first), which lets a
    receiver notice a live event it missed.

    A failure here loses nothing: the message is already saved and clients
    resync from the database when they reconnect.
    """
    sends = [
        (
            thread_group(message.thread_id),
            chat_message_event(message_payload(message, client_id=client_id), prev_id=prev_id),
        )
    ]
    for user_id, payload in thread_payloads(
        message, participants=participants, total=total
    ).items():
        sends.append((user_group(user_id), {"type": "thread.update", "thread": payload}))
    try:
        group_send_many(sends)
    except Exception:
        logger.exception("Could not broadcast message %s", message.pk)


def chat_message_event(payload: dict, *, prev_id: int | None) -> dict:
    """
    Return the group event for the message *payload*, with its JSON text for
    every receiving socket serialised here once rather than by each socket.
    """
    event = {
        "type": "chat.message",
        "message": payload,
        "prev_id": prev_id,
        # Other users' sockets get no client_id (see message_for_user).
        "text": to_json({**payload, "client_id": None}),
    }
    if payload.get("client_id") is not None:
        event["sender_text"] = to_json(payload)
    return event


def message_text_for_user(event: dict, user_id: int) -> str:
    """Return the JSON text of a ``chat.message`` event as *user_id* receives it."""
    message = event["message"]
    if message.get("client_id") is not None and message.get("sender_id") == user_id:
        text = event.get("sender_text")
    else:
        text = event.get("text")
    if text is None:  # an event built without its texts
        text = to_json(message_for_user(message, user_id))
    return text


def to_json(content: dict) -> str:
    """Return *content* as the text of a WebSocket frame."""
    return json.dumps(content, ensure_ascii=False)


def to_json_escaped(content: dict) -> str:
    """
    Return *content* as frame text even if it holds what UTF-8 cannot encode
    (a lone surrogate a client sent, echoed back): such characters are
    escaped as \\uXXXX, which a JSON parser reads back as the same string.
    """
    text = to_json(content)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(content)  # ensure_ascii: every non-ASCII character escaped
    return text
