"""
The real-time events: their group names and payload shapes, and sending them.

This module alone knows what goes over the channel layer; the consumer only
forwards what it receives here (see docs/protocol.md).
"""

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from django.utils.crypto import salted_hmac
from django.utils.text import Truncator

from . import bots, selectors, thread_heads
from .group_send import AlsoInPublish, group_send_many, group_send_many_on_loop
from .models import Message

if TYPE_CHECKING:
    from .unread import ReadState

logger = logging.getLogger(__name__)


def iso_utc(moment: datetime) -> str:
    """Return *moment* as the wire's ISO 8601 UTC timestamp ("2026-01-02T03:04:05.678Z")."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def thread_group(thread_id: int) -> str:
    """Group of every socket open on the chat page of one thread."""
    return f"pm.thread.{thread_id}"


# The one group of every event addressed to users (each names its user, or
# its users in "per_user"): each process subscribes to it once
# (user_events.py) and hands an event to the sockets of its users, so open
# sockets cost no subscription of their own.
USERS_GROUP = "pm.users"


def per_user(event: dict) -> list[tuple[int, dict]]:
    """
    Split a USERS_GROUP *event* into (user id, the event as that user's
    sockets get it): an event names one ``user``, or carries ``per_user``
    (user id -> that user's part of it, merged into the event).
    """
    parts = event.get("per_user")
    if parts is None:
        user = event.get("user")
        return [(user, event)] if isinstance(user, int) else []
    common = {key: value for key, value in event.items() if key != "per_user"}
    return [(int(user_id), {**common, **part}) for user_id, part in parts.items()]


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
        group_send_many([(USERS_GROUP, session_ended_event(user_id, session_key))])
    except Exception:
        logger.exception("Could not announce the end of sessions of user %s", user_id)


def message_payload(message: Message, *, client_id: str | None = None) -> dict:
    """Return the wire form of *message* (``{"type": "message", ...}``)."""
    payload = {
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
    # People's messages have none: no key, no work.
    if message.attachments:
        public = public_attachments(message.attachments)
        if public is not None:
            payload["attachments"] = public
    return payload


# What of a bot message's attachments browsers see (docs/protocol.md).
_PUBLIC_BUTTON_FIELDS = ("title", "url", "hide")


def public_attachments(attachments: object) -> dict | None:
    """
    Return the form of a message's *attachments* sent to browsers: a bot's
    buttons without their payloads (those stay on the server), its card and
    end_session; None for anything else (a tapped button's reference).
    """
    if not isinstance(attachments, dict) or "buttons" not in attachments:
        return None
    buttons = [
        {key: button[key] for key in _PUBLIC_BUTTON_FIELDS if key in button}
        for button in attachments.get("buttons") or ()
        if isinstance(button, dict)
    ]
    public = {"buttons": buttons, "end_session": bool(attachments.get("end_session"))}
    if isinstance(attachments.get("card"), dict):
        public["card"] = attachments["card"]
    return public


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


def thread_payloads(
    message: Message,
    *,
    participants: dict[int, str],
    total: int,
    unread: dict[int, int] | None = None,
    totals: dict[int, tuple[int, int]] | None = None,
) -> tuple[dict, dict[int, dict]]:
    """
    Return the thread-list update of *message*: the part every participant
    gets, and each participant's own fields (participant id -> fields); a
    participant's ``thread`` frame is the two merged. *participants* maps
    user id to username; *unread* each one's unread count in the thread after
    the message, and *totals* (user id -> (unread total, version)) those
    whose total changed.
    """
    unread = unread or {}
    totals = totals or {}
    common = {
        "type": "thread",
        "thread": message.thread_id,
        "url": message.thread.get_absolute_url(),
        "total": total,
        "last_message": message_payload(message),
        "preview": Truncator(message.text).chars(selectors.PREVIEW_LENGTH),
    }
    own = {}
    for user_id in participants:
        partner_id = next((uid for uid in participants if uid != user_id), None)
        fields = {
            "partner": participants.get(partner_id, ""),
            "partner_id": partner_id,
            "outgoing": message.sender_id == user_id,
            "unread": unread.get(user_id, 0),
        }
        if bots.is_bot(partner_id):
            fields["partner_is_skill"] = True
        if user_id in totals:
            fields["unread_total"], fields["version"] = totals[user_id]
        own[user_id] = fields
    return common, own


def thread_frame(event: dict) -> dict:
    """The ``thread`` frame a user gets from their part of a ``thread.update`` event."""
    return {**event["thread"], **event["own"]}


def thread_summary_payload(summary: selectors.ThreadSummary) -> dict:
    """
    Return one line of the thread list in the shape of a ``thread`` frame (its
    ``last_message`` carries only ``id`` and ``created``), for a resync.
    """
    created = summary.last_message_created
    payload = {
        "type": "thread",
        "thread": summary.pk,
        "url": summary.get_absolute_url(),
        "partner": summary.partner,
        "partner_id": summary.partner_id,
        "total": summary.total,
        "unread": summary.unread,
        "last_message": {
            "id": summary.last_message_id,
            "created": iso_utc(created) if created is not None else None,
        },
        "preview": summary.last_message_preview,
        "outgoing": summary.last_message_outgoing,
    }
    if summary.partner_is_skill:
        payload["partner_is_skill"] = True
    return payload


def broadcast_message_created(
    message: Message,
    *,
    client_id: str | None,
    participants: dict[int, str],
    total: int,
    prev_id: int | None = None,
    unread: dict[int, int] | None = None,
    totals: dict[int, tuple[int, int]] | None = None,
) -> None:
    """
    Send a committed *message* to its thread's sockets and to each participant's
    thread list. *participants* maps user id to username; *prev_id* is the id
    of the thread's message before this one (0 for the first), which lets a
    receiver notice a live event it missed.

    A failure here loses nothing: the message is already saved and clients
    resync from the database when they reconnect.
    """
    sends = _message_created_sends(
        message, client_id, participants, total, prev_id, unread, totals
    )
    joined = False
    try:
        joined = group_send_many(sends, also=_head_raise(message))
    except Exception:
        logger.exception("Could not broadcast message %s", message.pk)
    if not joined:
        thread_heads.raise_head(message.thread_id, message.pk)


async def broadcast_message_created_on_loop(
    message: Message,
    *,
    client_id: str | None,
    participants: dict[int, str],
    total: int,
    prev_id: int,
    unread: dict[int, int],
    totals: dict[int, tuple[int, int]],
    redis_client: aioredis.Redis | None,
    also: AlsoInPublish | None = None,
) -> None:
    """
    broadcast_message_created from the event loop (*redis_client*: the loop's,
    for the head); *also*: more commands for its round trip (the sender's
    next send budget, userlimits.take_ahead), where the publish can take them.
    """
    sends = _message_created_sends(
        message, client_id, participants, total, prev_id, unread, totals
    )
    raise_head = _head_raise(message)

    def in_publish(pipe):
        raise_head(pipe)
        return also(pipe) if also is not None else None

    joined = False
    try:
        joined = await group_send_many_on_loop(sends, also=in_publish)
    except Exception:
        logger.exception("Could not broadcast message %s", message.pk)
    if not joined:
        await thread_heads.raise_head_async(redis_client, message.thread_id, message.pk)


def _message_created_sends(
    message: Message,
    client_id: str | None,
    participants: dict[int, str],
    total: int,
    prev_id: int | None,
    unread: dict[int, int] | None,
    totals: dict[int, tuple[int, int]] | None,
) -> list[tuple[str, dict]]:
    """The events of a committed message: its thread's, and its participants' thread lists'."""
    sends = [
        (
            thread_group(message.thread_id),
            chat_message_event(
                message_payload(message, client_id=client_id),
                prev_id=prev_id,
                unread=unread,
                totals=totals,
            ),
        )
    ]
    # One event for every participant's thread list, what they share in it once.
    common, own = thread_payloads(
        message, participants=participants, total=total, unread=unread, totals=totals
    )
    per_user = {str(user_id): {"own": fields} for user_id, fields in own.items()}
    sends.append((USERS_GROUP, {"type": THREAD_UPDATE, "thread": common, "per_user": per_user}))
    return sends


def _head_raise(message: Message):
    # The thread's head goes with the broadcast, in its round trip when it can;
    # a tab's keepalive that sees the new head before the live event reads the
    # database, which is correct, just not needed.
    return lambda pipe: thread_heads.raise_head_in(pipe, message.thread_id, message.pk)


THREAD_UPDATE = "thread.update"
READ = "read.update"
UNREAD = "unread.update"
TYPING = "typing"


def broadcast_read(state: "ReadState", *, announce_receipt: bool) -> None:
    """
    Send a committed read to every socket of its reader (their unread counts
    on every tab) and, if *announce_receipt*, to the thread's sockets (the
    partner's ticks). Loses nothing if it fails: the next sync carries both.
    """
    unread = {"type": UNREAD, "user": state.user_id, "frame": unread_frame(state)}
    sends = [(USERS_GROUP, unread)]
    if announce_receipt:
        frame = {
            "type": "read",
            "thread": state.thread_id,
            "user_id": state.user_id,
            "last_read_id": state.last_read_id,
        }
        sends.append((thread_group(state.thread_id), {"type": READ, "frame": frame}))
    try:
        group_send_many(sends)
    except Exception:
        logger.exception("Could not broadcast a read of thread %s", state.thread_id)


def unread_frame(state: "ReadState") -> dict:
    """The ``unread`` frame of a read (docs/protocol.md)."""
    return {
        "type": "unread",
        "thread": state.thread_id,
        "unread": state.unread,
        "last_read_id": state.last_read_id,
        "unread_total": state.unread_total,
        "version": state.version,
    }


SETTINGS_CHANGED = "settings.changed"


def announce_settings_changed(user_id: int) -> None:
    """Tell *user_id*'s open sockets, on every process, to read their settings again."""
    try:
        group_send_many([(USERS_GROUP, {"type": SETTINGS_CHANGED, "user": user_id})])
    except Exception:
        logger.exception("Could not announce a settings change of user %s", user_id)


async def send_to_group(group: str, event: dict) -> None:
    """Send an ephemeral *event* (typing) from the event loop; a failure only loses it."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, event)
    except Exception:
        logger.warning("Could not send %s to %s", event.get("type"), group, exc_info=True)


def typing_event(*, thread_id: int, user_id: int, username: str) -> dict:
    """The group event of a ``typing`` frame, with the frame its receivers get."""
    frame = {"type": "typing", "thread": thread_id, "user_id": user_id, "sender": username}
    return {"type": TYPING, "user_id": user_id, "text": to_json(frame)}


def chat_message_event(
    payload: dict,
    *,
    prev_id: int | None,
    unread: dict[int, int] | None = None,
    totals: dict[int, tuple[int, int]] | None = None,
) -> dict:
    """
    Return the group event for the message *payload*, with its JSON text for
    every receiving socket serialised here once rather than by each socket:
    the text all share (``head``, up to the fields that differ) and, per
    participant, the rest of theirs (``tails``: the client_id, echoed to its
    sender only, and their unread counts after the message, so that a chat
    page keeps its header total without a frame more). Small parts, so that
    the event stays small on its way through Redis.
    """
    shared = {key: value for key, value in payload.items() if key != "client_id"}
    event = {
        "type": "chat.message",
        "message": payload,
        "prev_id": prev_id,
        "head": to_json(shared)[:-1],
    }
    totals = totals or {}
    event["tails"] = {
        str(user_id): _tail(
            {
                "client_id": message_for_user(payload, user_id).get("client_id"),
                "unread": count,
                **_total_fields(totals.get(user_id)),
            }
        )
        for user_id, count in (unread or {}).items()
    }
    if payload.get("client_id") is not None and not unread:
        event["tails"][str(payload.get("sender_id"))] = _tail({"client_id": payload["client_id"]})
    return event


def _tail(fields: dict) -> str:
    """The end of a frame's JSON text after a ``head``: ', "key": value, ...}'."""
    return ", " + to_json(fields)[1:]


# The tail of anyone who is not a participant (_tail({"client_id": None})).
_NO_CLIENT_ID_TAIL = ', "client_id": null}'


def _total_fields(total: tuple[int, int] | None) -> dict:
    return {} if total is None else {"unread_total": total[0], "version": total[1]}


def message_text_for_user(event: dict, user_id: int) -> str:
    """Return the JSON text of a ``chat.message`` event as *user_id* receives it."""
    head = event.get("head")
    if head is not None:
        return head + event["tails"].get(str(user_id), _NO_CLIENT_ID_TAIL)
    # An event built without its texts.
    return to_json(message_for_user(event["message"], user_id))


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
