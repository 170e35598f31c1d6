"""
Writes. ``message_create`` is the only code that creates a message: the form,
the JSON API and the WebSocket consumer all call it (the consumer, where it
saves on the event loop, its asyncio twin ``message_create_on_loop``, the same
query and broadcast).

Input is checked once, where it enters (``check_message`` or its parts,
called by the form, the API and the consumer); the services below take the
checked values and trust them, as Zulip's check_*/do_* split does.
"""

import asyncio
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from . import bots, conf, events, message_sql, selectors, unread
from .db_threads import in_database_thread
from .group_send import AlsoInPublish
from .models import ChatProfile, Membership, Message, Thread, is_storable, is_valid_id

logger = logging.getLogger(__name__)

# Longer than a UUID in any notation, short enough to index.
CLIENT_ID_MAX_LENGTH = 64


class MessageError(ValueError):
    """
    A message that cannot be sent; ``code`` is stable, ``message`` is for people.

    ``message`` is lazy: it takes the language of whoever shows it (a page,
    the API's response, a socket's error frame), which need not be the one
    active where the error was raised (a socket's database thread).
    """

    def __init__(self, code: str, message: str | Promise) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CleanMessage:
    """A message's input as check_message returns it: safe to store as it is."""

    text: str
    # "" when the sender gave none (the form, the API).
    client_id: str = ""


def check_message(text: object, client_id: object = None) -> CleanMessage:
    """Check a message's raw *text* and *client_id*; raise MessageError for the first bad one."""
    return CleanMessage(text=clean_message_text(text), client_id=clean_client_id(client_id))


def clean_message_text(text: object) -> str:
    """Return *text* trimmed, or raise MessageError if it cannot be sent."""
    if not isinstance(text, str):
        raise MessageError("invalid_text", _("Текст сообщения должен быть строкой."))
    text = text.strip()
    if _is_blank(text):
        raise MessageError("empty", _("Сообщение не может быть пустым."))
    # JSON (the API, the WebSocket) can carry what no column stores.
    if not is_storable(text):
        raise MessageError("invalid_text", _("Сообщение содержит недопустимые символы."))
    limit = conf.app_settings.MAX_TEXT_LENGTH
    if len(text) > limit:
        raise MessageError(
            "too_long",
            format_lazy(
                ngettext_lazy(
                    "Сообщение длиннее {limit} символа ({length}).",
                    "Сообщение длиннее {limit} символов ({length}).",
                    limit,
                ),
                limit=limit,
                length=len(text),
            ),
        )
    return text


def clean_client_id(client_id: object) -> str:
    """Return the sending tab's *client_id* ("" for none), or raise MessageError."""
    if client_id is None or client_id == "":
        return ""
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise MessageError(
            "invalid_client_id",
            format_lazy(
                _("client_id должен быть строкой не длиннее {limit} символов."),
                limit=CLIENT_ID_MAX_LENGTH,
            ),
        )
    if not is_storable(client_id):
        raise MessageError("invalid_client_id", _("client_id содержит недопустимые символы."))
    return client_id


# Characters that show nothing on their own: controls, format characters
# (zero-width space and joiners, BOM, word joiner, bidi marks), separators,
# and combining marks with no letter to sit on.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters that render as blank space (the Hangul fillers, the empty Braille
# pattern), the usual way round a check of categories alone.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _is_blank(text: str) -> bool:
    """Return True if *text* would show nothing (stops at the first visible character)."""
    return all(
        char in _BLANK_LETTERS or unicodedata.category(char) in _INVISIBLE_CATEGORIES
        for char in text
    )


def thread_counts_rebuild(*, thread_ids: Iterable[int]) -> None:
    """
    Count the messages of *thread_ids* again from their rows. For deletions
    (the admin's): sending keeps the counts itself.
    """
    thread_ids = list(thread_ids)
    messages = Message.objects.filter(thread=OuterRef("pk"))
    sent = Message.objects.filter(thread=OuterRef("thread"), sender=OuterRef("user"))
    with transaction.atomic():
        Thread.objects.filter(pk__in=thread_ids).update(message_count=_count_of(messages))
        Membership.objects.filter(thread_id__in=thread_ids).update(sent_count=_count_of(sent))
        unread.unread_counts_rebuild(thread_ids=thread_ids)


def _count_of(queryset) -> Subquery:
    counted = queryset.order_by().values(group=Value(1)).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


def thread_get_or_create_for_pair(*, user: AbstractBaseUser, other: AbstractBaseUser) -> Thread:
    """Return the one thread of *user* and *other*, creating it if needed."""
    if user.pk == other.pk:
        raise MessageError("self_recipient", _("Нельзя отправить сообщение самому себе."))
    pair_key = Thread.pair_key_for(user.pk, other.pk)
    thread = Thread.objects.filter(pair_key=pair_key).first()
    if thread is not None:
        return thread
    try:
        with transaction.atomic():
            thread = Thread.objects.create(pair_key=pair_key)
            thread.participants.add(user, other)
            # Each message then changes the profiles' unread totals in place.
            ChatProfile.objects.bulk_create(
                [ChatProfile(user=user), ChatProfile(user=other)], ignore_conflicts=True
            )
            return thread
    except IntegrityError:
        # Someone else created it between our read and our insert.
        return Thread.objects.get(pair_key=pair_key)


def message_send_to_username(
    *, sender: AbstractBaseUser, recipient_username: object, text: object
) -> Message:
    """
    Send raw *text* to the user called *recipient_username*: the edge for
    callers that hold unchecked input (scripts, tests). Checks it once.
    """
    text = clean_message_text(text)
    username = recipient_username.strip() if isinstance(recipient_username, str) else None
    recipient = selectors.user_get_by_username(username=username)
    if recipient is None:
        raise MessageError("unknown_recipient", _("Такого пользователя нет."))
    return message_send_to_user(sender=sender, recipient=recipient, text=text)


def message_send_to_user(
    *, sender: AbstractBaseUser, recipient: AbstractBaseUser, text: str
) -> Message:
    """Send checked *text* to *recipient*, in their thread (created on the first message)."""
    thread = thread_get_or_create_for_pair(user=sender, other=recipient)
    return message_create(sender=sender, thread=thread, text=text)


def message_create(
    *,
    sender: AbstractBaseUser,
    thread: Thread,
    text: str,
    client_id: str = "",
    participants: dict[int, str] | None = None,
    attachments: dict | None = None,
) -> Message:
    """
    Save and count a message from *sender* in *thread*, then (after commit)
    announce it to every open socket of the thread and of its participants.

    Trusts *text* and *client_id*: they come from check_message (or
    clean_message_text / clean_client_id) at the caller's edge, and are not
    checked again here. Only who may write to the thread is.

    Idempotent per *client_id*: sending the same client_id again (a tab that
    resends after a reconnect) returns the message saved the first time, and
    saves and announces nothing.

    *participants* (user id -> username, as selectors.thread_participants
    returns it) saves a query for a caller that already knows them, such as a
    socket that checked them when it opened; without it they are read here.

    On PostgreSQL outside a transaction (a socket's message, a view's) the
    message is committed in one round trip and announced before this
    returns; inside one, it is announced when that commits.

    *attachments* (JSON) go with a bot's message (its buttons, card) or a
    tapped button's reference (button_reference_check); None for everyone
    else. After the broadcast, ``bots.message_committed`` is sent, in the same
    on_commit, for an app that answers messages (skillchat).
    """
    # Not a check of the input: catches a caller that skipped check_message.
    assert isinstance(text, str), "check_message() first"
    assert isinstance(client_id, str), "check_message() first"
    if participants is None:
        participants = selectors.thread_participants(thread=thread)
    if sender.pk not in participants:
        raise _not_participant()
    fields = {
        "thread_id": thread.pk,
        "sender_id": sender.pk,
        "participant_ids": list(participants),
        "text": text,
        "client_id": client_id,
        "attachments": attachments,
    }
    try:
        if message_sql.commits_alone():
            # Saved and committed in one round trip; announced right after.
            saved = message_sql.insert_and_commit(**fields)
            message = _saved_message(saved, thread, sender, text, client_id, attachments)
            _announce_robustly(message, participants=participants, saved=saved)
        else:
            with transaction.atomic():
                saved = message_sql.insert_in_order(**fields)
                message = _saved_message(saved, thread, sender, text, client_id, attachments)
                # robust: the message is saved by then, so a failure to announce
                # it must not turn the sender's request into an error (and a resend).
                transaction.on_commit(
                    lambda: _announce(message, participants=participants, saved=saved),
                    robust=True,
                )
    except message_sql.ThreadGone:
        # Deleted since the caller read it (a socket keeps its thread).
        raise _not_participant() from None
    except IntegrityError:
        # The same client_id saved before: by an earlier send, a concurrent
        # call, or in another thread.
        existing = client_id and _message_with_client_id(sender=sender, client_id=client_id)
        if not existing:
            raise
        return _check_same_thread(existing, thread)
    thread.last_message = saved.created
    return message


async def message_create_on_loop(
    *,
    sender: AbstractBaseUser,
    thread: Thread,
    text: str,
    client_id: str,
    participants: dict[int, str],
    redis_client: aioredis.Redis | None,
    also_in_publish: AlsoInPublish | None = None,
) -> Message:
    """
    message_create for a socket's message, from the event loop itself, where
    loop_db.saves_on_loop() (PostgreSQL): the same query on one of the loop's
    connections, committed in one round trip, then the same broadcast (its
    thread head through *redis_client*, the loop's) and the same
    ``bots.message_committed``, sent on the loop: its receivers must not
    block. A person's message in a thread without a bot: the socket of a
    thread with a bot, and a tapped button, go through message_create in a
    database thread. The same errors and the same idempotency per client_id.
    *also_in_publish*: more commands for the broadcast's Redis round trip.
    """
    assert isinstance(text, str), "check_message() first"
    assert isinstance(client_id, str), "check_message() first"
    if sender.pk not in participants:
        raise _not_participant()

    async def saved_and_announced() -> Message:
        try:
            saved = await message_sql.insert_and_commit_on_loop(
                thread_id=thread.pk,
                sender_id=sender.pk,
                participant_ids=list(participants),
                text=text,
                client_id=client_id,
            )
        except message_sql.ThreadGone:
            raise _not_participant() from None
        except IntegrityError:
            existing = client_id and await in_database_thread(_message_with_client_id)(
                sender=sender, client_id=client_id
            )
            if not existing:
                raise
            return _check_same_thread(existing, thread)
        message = _saved_message(saved, thread, sender, text, client_id, None, db=DEFAULT_DB_ALIAS)
        try:
            await events.broadcast_message_created_on_loop(
                message,
                client_id=client_id or None,
                participants=participants,
                total=saved.total,
                prev_id=saved.prev_id,
                unread=saved.unread,
                totals=saved.totals,
                redis_client=redis_client,
                also=also_in_publish,
            )
            bots.message_committed.send(Message, message=message, participants=participants)
        except Exception:
            # As _announce_robustly: the message is saved; no error, no resend.
            logger.exception("Could not announce message %s", message.pk)
        thread.last_message = saved.created
        return message

    # Shielded: a sender's task cancelled midway (the server shutting down)
    # must not leave a saved message unannounced, its thread's head not
    # raised, which no keepalive would notice. In a database thread the work
    # goes on by itself.
    return await asyncio.shield(saved_and_announced())


def _not_participant() -> MessageError:
    return MessageError("not_participant", _("Вы не участник этого диалога."))


def _saved_message(
    saved: message_sql.Saved,
    thread: Thread,
    sender: AbstractBaseUser,
    text: str,
    client_id: str,
    attachments: dict | None,
    db: str | None = None,
) -> Message:
    """The Message of what insert_in_order saved, as a query would return it."""
    message = Message(
        pk=saved.message_id,
        thread=thread,
        sender=sender,
        text=text,
        created=saved.created,
        client_id=client_id,
        attachments=attachments,
    )
    message._state.adding = False
    message._state.db = db or connection.alias
    return message


def _announce_robustly(
    message: Message, *, participants: dict[int, str], saved: message_sql.Saved
) -> None:
    # As on_commit(robust=True) does for the other path: logged, not raised.
    try:
        _announce(message, participants=participants, saved=saved)
    except Exception:
        logger.exception("Could not announce message %s", message.pk)


def _announce(message: Message, *, participants: dict[int, str], saved: message_sql.Saved) -> None:
    events.broadcast_message_created(
        message,
        # Echoed to the sending tab only, which named it.
        client_id=message.client_id or None,
        participants=participants,
        total=saved.total,
        prev_id=saved.prev_id,
        unread=saved.unread,
        totals=saved.totals,
    )
    # Receivers run after the broadcast: the message is on its way to the
    # sockets whatever a receiver does. No receivers: the signal's own check.
    bots.message_committed.send(Message, message=message, participants=participants)


@dataclass(frozen=True)
class ButtonTap:
    """A checked tap of a bot's button: the text and attachments of the user's message."""

    text: str
    attachments: dict


def check_button_reference(reference: object) -> tuple[int, int]:
    """
    Return the (message id, button index) of a message frame's ``button``
    field, or raise MessageError("invalid_button").
    """
    if isinstance(reference, dict):
        message_id, index = reference.get("message_id"), reference.get("index")
        if is_valid_id(message_id) and type(index) is int and 0 <= index < 1000:
            return message_id, index
    raise MessageError("invalid_button", _invalid_button())


def _invalid_button() -> str:
    return _("Этой кнопки нет.")


def button_tap_resolve(*, thread: Thread, user_id: int, message_id: int, index: int) -> ButtonTap:
    """
    Return what tapping button *index* of message *message_id* sends: the
    button's title as the text, the reference as the attachments. Refuse
    (MessageError "invalid_button") a message of another thread or not sent
    by a bot partner of the thread, an index naming no button or a link
    button, and a ``hide`` button of a message that is no longer the newest
    (gone from the screen, as in Alice). The payload stays on the server.
    """
    row = (
        Message.objects.filter(pk=message_id, thread_id=thread.pk)
        .values_list("sender_id", "attachments")
        .first()
    )
    if row is None or row[0] == user_id or not bots.is_bot(row[0]):
        raise MessageError("invalid_button", _invalid_button())
    buttons = (row[1] or {}).get("buttons") if isinstance(row[1], dict) else None
    if not isinstance(buttons, list) or index >= len(buttons):
        raise MessageError("invalid_button", _invalid_button())
    button = buttons[index]
    if not isinstance(button, dict) or button.get("url") or not button.get("title"):
        raise MessageError("invalid_button", _invalid_button())
    if button.get("hide") and selectors.thread_newest_id(thread_id=thread.pk) != message_id:
        raise MessageError("invalid_button", _invalid_button())
    return ButtonTap(
        text=button["title"],
        attachments={"button": {"message_id": message_id, "index": index}},
    )


def message_create_from_button(
    *,
    sender: AbstractBaseUser,
    thread: Thread,
    message_id: int,
    index: int,
    client_id: str = "",
    participants: dict[int, str] | None = None,
) -> Message:
    """Send the tap of a bot's button (check_button_reference first) as *sender*'s message."""
    if participants is None:
        participants = selectors.thread_participants(thread=thread)
    if sender.pk not in participants:
        raise _not_participant()
    tap = button_tap_resolve(thread=thread, user_id=sender.pk, message_id=message_id, index=index)
    return message_create(
        sender=sender,
        thread=thread,
        text=tap.text,
        client_id=client_id,
        participants=participants,
        attachments=tap.attachments,
    )


def _message_with_client_id(*, sender: AbstractBaseUser, client_id: str) -> Message | None:
    return (
        Message.objects.filter(sender=sender, client_id=client_id).select_related("sender").first()
    )


def _check_same_thread(message: Message, thread: Thread) -> Message:
    if message.thread_id != thread.pk:
        raise MessageError(
            "duplicate_client_id", _("Этот client_id уже использован в другом диалоге.")
        )
    return message
