"""
Writes. ``message_create`` is the only code that creates a message: the form,
the JSON API and the WebSocket consumer all call it.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import counters, events
from .models import Message, Thread


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
    if not text:
        raise MessageError("empty", "Сообщение не может быть пустым.")
    limit = settings.PRIVATEMESSAGES_MAX_TEXT_LENGTH
    if len(text) > limit:
        raise MessageError(
            "too_long", f"Сообщение длиннее {limit} символов ({len(text)})."
        )
    return text


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
    recipient = (
        get_user_model()
        .objects.filter(**{get_user_model().USERNAME_FIELD: (recipient_username or "").strip()})
        .first()
    )
    if recipient is None:
        raise MessageError("unknown_recipient", "Такого пользователя нет.")
    thread = thread_get_or_create_for_pair(user=sender, other=recipient)
    return message_create(sender=sender, thread=thread, text=text)


def message_create(
    *,
    sender: AbstractBaseUser,
    thread: Thread,
    text: object,
    client_id: str | None = None,
) -> Message:
    """
    Save a message from *sender* in *thread*, then (after commit) count it and
    announce it to every open socket of the thread and of its participants.
    """
    text = clean_message_text(text)
    participants = dict(thread.participants.values_list("id", "username"))
    if sender.pk not in participants:
        raise MessageError("not_participant", "Вы не участник этого диалога.")
    now = timezone.now()
    with transaction.atomic():
        # The UPDATE locks the thread row until commit, so messages of one
        # thread commit in id order: a client that has seen id N can ask for
        # "everything after N" and never miss a message committed later.
        Thread.objects.filter(pk=thread.pk).update(last_message=now)
        message = Message.objects.create(thread=thread, sender=sender, text=text, created=now)
        transaction.on_commit(
            lambda: _announce(message, client_id=client_id, participants=participants)
        )
    thread.last_message = now
    return message


def _announce(message: Message, *, client_id: str | None, participants: dict[int, str]) -> None:
    total = counters.record_message(message)
    if total is None:
        total = counters.counts_for_threads({message.thread_id: message.pk})[message.thread_id].total
    events.broadcast_message_created(
        message, client_id=client_id, participants=participants, total=total
    )
