"""
Writes. ``message_create`` is the only code that creates a message: the form,
the JSON API and the WebSocket consumer all call it.

Input is checked once, where it enters (``check_message`` or its parts,
called by the form, the API and the consumer); the services below take the
checked values and trust them, as Zulip's check_*/do_* split does.
"""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from . import conf, events, message_sql, selectors, unread
from .models import ChatProfile, Membership, Message, Thread, is_storable

# Longer than a UUID in any notation, short enough to index.
CLIENT_ID_MAX_LENGTH = 64


class MessageError(ValueError):
    """A message that cannot be sent; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
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
        raise MessageError("invalid_text", "Текст сообщения должен быть строкой.")
    text = text.strip()
    if _is_blank(text):
        raise MessageError("empty", "Сообщение не может быть пустым.")
    # JSON (the API, the WebSocket) can carry what no column stores.
    if not is_storable(text):
        raise MessageError("invalid_text", "Сообщение содержит недопустимые символы.")
    limit = conf.app_settings.MAX_TEXT_LENGTH
    if len(text) > limit:
        raise MessageError("too_long", f"Сообщение длиннее {limit} символов ({len(text)}).")
    return text


def clean_client_id(client_id: object) -> str:
    """Return the sending tab's *client_id* ("" for none), or raise MessageError."""
    if client_id is None or client_id == "":
        return ""
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise MessageError(
            "invalid_client_id",
            f"client_id должен быть строкой не длиннее {CLIENT_ID_MAX_LENGTH} символов.",
        )
    if not is_storable(client_id):
        raise MessageError("invalid_client_id", "client_id содержит недопустимые символы.")
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
        raise MessageError("self_recipient", "Нельзя отправить сообщение самому себе.")
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
        raise MessageError("unknown_recipient", "Такого пользователя нет.")
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
    """
    # Not a check of the input: catches a caller that skipped check_message.
    assert isinstance(text, str), "check_message() first"
    assert isinstance(client_id, str), "check_message() first"
    if participants is None:
        participants = selectors.thread_participants(thread=thread)
    if sender.pk not in participants:
        raise MessageError("not_participant", "Вы не участник этого диалога.")
    try:
        with transaction.atomic():
            saved = message_sql.insert_in_order(
                thread_id=thread.pk,
                sender_id=sender.pk,
                participant_ids=list(participants),
                text=text,
                client_id=client_id,
            )
            message = Message(
                pk=saved.message_id,
                thread=thread,
                sender=sender,
                text=text,
                created=saved.created,
                client_id=client_id,
            )
            message._state.adding = False
            message._state.db = connection.alias
            # robust: the message is saved by then, so a failure to announce it
            # must not turn the sender's request into an error (and a resend).
            transaction.on_commit(
                lambda: events.broadcast_message_created(
                    message,
                    client_id=client_id or None,
                    participants=participants,
                    total=saved.total,
                    prev_id=saved.prev_id,
                    unread=saved.unread,
                    totals=saved.totals,
                ),
                robust=True,
            )
    except message_sql.ThreadGone:
        # Deleted since the caller read it (a socket keeps its thread).
        raise MessageError("not_participant", "Вы не участник этого диалога.") from None
    except IntegrityError:
        # The same client_id saved before: by an earlier send, a concurrent
        # call, or in another thread.
        existing = client_id and _message_with_client_id(sender=sender, client_id=client_id)
        if not existing:
            raise
        return _check_same_thread(existing, thread)
    thread.last_message = saved.created
    return message


def _message_with_client_id(*, sender: AbstractBaseUser, client_id: str) -> Message | None:
    return (
        Message.objects.filter(sender=sender, client_id=client_id).select_related("sender").first()
    )


def _check_same_thread(message: Message, thread: Thread) -> Message:
    if message.thread_id != thread.pk:
        raise MessageError(
            "duplicate_client_id", "Этот client_id уже использован в другом диалоге."
        )
    return message
