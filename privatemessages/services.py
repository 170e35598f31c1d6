"""
Writes. ``message_create`` is the only code that creates a message: the form,
the JSON API and the WebSocket consumer all call it.
"""

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import events, selectors
from .models import Membership, Message, Thread

# Longer than a UUID in any notation, short enough to index.
CLIENT_ID_MAX_LENGTH = 64


class MessageError(ValueError):
    """A message that cannot be sent; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_message_text(text: object) -> str:
    """Return *text* trimmed, or raise MessageError if it cannot be sent."""
    if not isinstance(text, str):
        raise MessageError("invalid_text", "Текст сообщения должен быть строкой.")
    text = text.strip()
    if _is_blank(text):
        raise MessageError("empty", "Сообщение не может быть пустым.")
    # JSON (the API, the WebSocket) can carry both, and neither can be stored:
    # PostgreSQL text has no NUL, and a lone surrogate is not UTF-8.
    if "\x00" in text or not _is_utf8_encodable(text):
        raise MessageError("invalid_text", "Сообщение содержит недопустимые символы.")
    limit = settings.PRIVATEMESSAGES_MAX_TEXT_LENGTH
    if len(text) > limit:
        raise MessageError("too_long", f"Сообщение длиннее {limit} символов ({len(text)}).")
    return text


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


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
            return thread
    except IntegrityError:
        # Someone else created it between our read and our insert.
        return Thread.objects.get(pair_key=pair_key)


def message_send_to_username(
    *, sender: AbstractBaseUser, recipient_username: str, text: object
) -> Message:
    """Send *text* to the user called *recipient_username* (the new-message form)."""
    text = clean_message_text(text)
    User = get_user_model()
    username = recipient_username.strip() if isinstance(recipient_username, str) else ""
    recipient = None
    if username and "\x00" not in username and _is_utf8_encodable(username):
        recipient = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if recipient is None:
        raise MessageError("unknown_recipient", "Такого пользователя нет.")
    thread = thread_get_or_create_for_pair(user=sender, other=recipient)
    return message_create(sender=sender, thread=thread, text=text)


def clean_client_id(client_id: object) -> str:
    """Return the sending tab's *client_id* ("" for none), or raise MessageError."""
    if client_id is None or client_id == "":
        return ""
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise MessageError(
            "invalid_client_id",
            f"client_id должен быть строкой не длиннее {CLIENT_ID_MAX_LENGTH} символов.",
        )
    # As for the text: PostgreSQL cannot store a NUL, nor UTF-8 a lone surrogate.
    if "\x00" in client_id or not _is_utf8_encodable(client_id):
        raise MessageError("invalid_client_id", "client_id содержит недопустимые символы.")
    return client_id


def message_create(
    *,
    sender: AbstractBaseUser,
    thread: Thread,
    text: object,
    client_id: str | None = None,
    participants: dict[int, str] | None = None,
) -> Message:
    """
    Save and count a message from *sender* in *thread*, then (after commit)
    announce it to every open socket of the thread and of its participants.

    Idempotent per *client_id*: sending the same client_id again (a tab that
    resends after a reconnect) returns the message saved the first time, and
    saves and announces nothing.

    *participants* (user id -> username, as selectors.thread_participants
    returns it) saves a query for a caller that already knows them, such as a
    socket that checked them when it opened; without it they are read here.
    """
    text = clean_message_text(text)
    client_id = clean_client_id(client_id)
    if participants is None:
        participants = selectors.thread_participants(thread=thread)
    if sender.pk not in participants:
        raise MessageError("not_participant", "Вы не участник этого диалога.")
    now = timezone.now()
    try:
        with transaction.atomic():
            saved = _insert_in_order(
                thread_id=thread.pk,
                sender_id=sender.pk,
                text=text,
                created=now,
                client_id=client_id,
            )
            message = Message(
                pk=saved.message_id,
                thread=thread,
                sender=sender,
                text=text,
                created=now,
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
                ),
                robust=True,
            )
    except IntegrityError:
        # The same client_id saved before: by an earlier send, a concurrent
        # call, or in another thread.
        existing = client_id and _message_with_client_id(sender=sender, client_id=client_id)
        if not existing:
            raise
        return _check_same_thread(existing, thread)
    thread.last_message = now
    return message


@dataclass(frozen=True)
class _Saved:
    message_id: int
    # The id of the thread's message before this one (0 for the first).
    prev_id: int
    # The thread's message count with this message.
    total: int


def _insert_in_order(
    *, thread_id: int, sender_id: int, text: str, created: datetime, client_id: str
) -> _Saved:
    """
    Insert a message with the thread row locked and count it. Call inside atomic().

    Plain SQL: through the ORM these statements cost about three times the
    CPU (query compilation, model saving), and this runs for every message,
    on the thread that commits them.
    """
    sql = _insert_sql(connection.vendor)
    with connection.cursor() as cursor:
        # The UPDATE locks the thread row until commit, so messages of one
        # thread commit in id order: a client that has seen id N can ask for
        # "everything after N" and never miss a message committed later. The
        # count is taken under the same lock, so it cannot drift from the rows.
        cursor.execute(
            sql.lock_and_count, [connection.ops.adapt_datetimefield_value(created), thread_id]
        )
        row = cursor.fetchone()
        if row is None:
            # Deleted since the caller read it (a socket keeps its thread).
            raise MessageError("not_participant", "Вы не участник этого диалога.")
        total = row[0]
        # Read under the lock: the thread's newest message before this one.
        # Receivers compare it with the last id they delivered to notice a
        # missed or reordered live event (see consumers.ChatConsumer).
        cursor.execute(sql.previous_id, [thread_id])
        prev_id = cursor.fetchone()[0] or 0
        # A resent client_id fails the unique constraint here rather than
        # costing every message a lookup first; the rollback also undoes
        # the counts, and message_create returns the original.
        cursor.execute(
            sql.insert,
            [
                thread_id,
                sender_id,
                text,
                connection.ops.adapt_datetimefield_value(created),
                client_id,
            ],
        )
        message_id = cursor.fetchone()[0]
        cursor.execute(sql.count_sent, [thread_id, sender_id])
    return _Saved(message_id=message_id, prev_id=prev_id, total=total)


@dataclass(frozen=True)
class _InsertSQL:
    lock_and_count: str
    previous_id: str
    insert: str
    count_sent: str


@functools.cache
def _insert_sql(vendor: str) -> _InsertSQL:
    """The statements of _insert_in_order, in this database's quoting."""
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    threads, messages = quote(Thread._meta.db_table), quote(Message._meta.db_table)
    members = quote(Membership._meta.db_table)
    insert_columns = ", ".join(
        column(Message, name) for name in ("thread", "sender", "text", "created", "client_id")
    )
    count, sent = column(Thread, "message_count"), column(Membership, "sent_count")
    # RETURNING: PostgreSQL, and SQLite since 3.35.
    return _InsertSQL(
        lock_and_count=(
            f"UPDATE {threads} SET {column(Thread, 'last_message')} = %s, "
            f"{count} = {count} + 1 WHERE {column(Thread, 'id')} = %s RETURNING {count}"
        ),
        previous_id=(
            f"SELECT MAX({column(Message, 'id')}) FROM {messages} "
            f"WHERE {column(Message, 'thread')} = %s"
        ),
        insert=(
            f"INSERT INTO {messages} ({insert_columns}) VALUES (%s, %s, %s, %s, %s) "
            f"RETURNING {column(Message, 'id')}"
        ),
        count_sent=(
            f"UPDATE {members} SET {sent} = {sent} + 1 "
            f"WHERE {column(Membership, 'thread')} = %s AND {column(Membership, 'user')} = %s"
        ),
    )


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
