"""
Answering a thread's messages with its skill, off the event loop.

``schedule(thread_id)`` (the hook of every committed message to a skill, and the restart)
hands the thread to a bounded pool of SKILLCHAT_WORKERS threads per process; a thread is
worked on by one job at a time in a process (a message arriving meanwhile makes the job
look again), and by one process at a time through its SkillConversation row:

- a job locks the row, takes the oldest user message after ``last_handled_message_id``,
  asks the skill (one Alice request, its message_id from the row), creates the answer with
  privatemessages' one message service and advances the row, all in one transaction. The
  answer is created after the question committed, so its id follows the question's; and
  the messages are answered in id order, once each, whichever process locks the row;
- a process killed mid-answer commits nothing: the next job (the next message's, on any
  process) asks again with the same session and message_id, which the Alice store answers
  from its record without advancing the dialog (a mounted skill);
- a webhook is never asked twice: the row is advanced and marked busy (for the deadline)
  before the call, in a transaction of its own, and the answer written after it. A process
  killed during the call leaves that message unanswered; the busy mark expires and the
  next message goes on.

SKILLCHAT_WORKERS = 0 runs the job in the thread that committed the message (tests, tools).
"""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from alice.engine.deadline import default_deadline
from privatemessages import selectors, services
from privatemessages.models import Membership, Message, Thread

from . import alice_requests, answers, loops, webhook
from .conf import app_settings
from .models import SkillConversation, SkillPartner
from .registry import mounted_skill
from .typing_frames import typing

logger = logging.getLogger(__name__)

# Seconds a webhook's busy mark outlives its deadline (the answer's own transaction).
WEBHOOK_MARGIN = 5.0
# The longest a webhook is waited for when no Alice deadline is set.
WEBHOOK_TIMEOUT = 3.0

_lock = threading.Lock()
_running: set[int] = set()
# Threads whose running job must look again: thread id -> the latest sender's zone.
_again: dict[int, str | None] = {}
_pool: ThreadPoolExecutor | None = None


def _forget_workers() -> None:
    # A forked child (a server's worker) has none of its parent's threads or jobs.
    global _pool
    _pool = None
    _running.clear()
    _again.clear()


os.register_at_fork(after_in_child=_forget_workers)


def schedule(thread_id: int, *, message_id: int | None = None, zone: str | None = None) -> None:
    """
    Have the thread's new messages answered (or its restart greeted). *message_id* is the
    message that asks, *zone* the sender's time zone when the request knew it.
    """
    with _lock:
        if thread_id in _running:
            _again[thread_id] = zone
            return
        _running.add(thread_id)
    if app_settings.WORKERS <= 0:
        _run(thread_id, message_id, zone)
    else:
        try:
            loops.submit(_executor(), loops.main_loop(), _run, thread_id, message_id, zone)
        except RuntimeError:
            # The server's loop closed meanwhile (shutting down): a plain thread then.
            _executor().submit(_run, thread_id, message_id, zone)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(app_settings.WORKERS, thread_name_prefix="skillchat")
        return _pool


def _run(thread_id: int, message_id: int | None, zone: str | None) -> None:
    pooled = app_settings.WORKERS > 0
    try:
        while True:
            if pooled:
                close_old_connections()
            try:
                while answer_next(thread_id, message_id=message_id, zone=zone):
                    pass
            except Exception:
                logger.exception("Skill chat: thread %s could not be answered", thread_id)
            finally:
                if pooled:
                    close_old_connections()
            with _lock:
                if thread_id in _again:
                    zone = _again.pop(thread_id) or zone
                    continue
                _running.discard(thread_id)
                return
    except BaseException:
        with _lock:
            _running.discard(thread_id)
            _again.pop(thread_id, None)
        raise


@dataclass
class _Work:
    """One request to make: a user's message, or a restart's greeting."""

    message: Message | None
    body: dict[str, Any]


def answer_next(thread_id: int, *, message_id: int | None = None, zone: str | None = None) -> bool:
    """
    Answer the thread's oldest unanswered message (or greet after a restart); return
    whether there was one. A failure in the bridge answers the failure line instead.
    """
    try:
        return _answer_next(thread_id, message_id, zone)
    except Exception:
        logger.exception("Skill chat: the answer in thread %s failed", thread_id)
        _give_up(thread_id)
        return False  # the next message starts a new job: no loop on a failure


def _answer_next(thread_id: int, message_id: int | None, zone: str | None) -> bool:
    with transaction.atomic():
        conversation = lock_conversation(thread_id, message_id)
        if conversation is None:
            return False
        partner = conversation.partner
        if partner.kind == SkillPartner.WEBHOOK:
            pass  # a transaction of its own for the call: below
        else:
            work = _next_work(conversation)
            if work is None:
                return False
            if not partner.enabled:
                _advance(conversation, work, None, asked=False)
                return True
            request = _request(conversation, work, zone)
            with typing(thread_id, partner.user_id, partner.user.get_username()):
                answer = _ask_mounted(partner, request)
            _post(conversation, answer)
            _advance(conversation, work, answer)
            return True
    return _answer_by_webhook(thread_id, message_id, zone)


def _answer_by_webhook(thread_id: int, message_id: int | None, zone: str | None) -> bool:
    with transaction.atomic():
        conversation = lock_conversation(thread_id, message_id)
        if conversation is None:
            return False
        now = timezone.now()
        busy = conversation.webhook_busy_until
        if busy is not None and busy > now:
            # Another process waits for the webhook; it looks again when it has answered.
            return False
        work = _next_work(conversation)
        if work is None:
            return False
        partner = conversation.partner
        request = _request(conversation, work, zone) if partner.enabled else None
        timeout = default_deadline() or WEBHOOK_TIMEOUT
        if request is not None:
            conversation.webhook_busy_until = now + timedelta(seconds=timeout + WEBHOOK_MARGIN)
        _advance(conversation, work, None, asked=request is not None)
    if request is None:
        return True
    with typing(thread_id, partner.user_id, partner.user.get_username()):
        answer = _ask_webhook(partner, request, timeout)
    try:
        with transaction.atomic():
            conversation = lock_conversation(thread_id, None)
            if conversation is None:
                return False
            _post(conversation, answer)
            _take_answer(conversation, answer)
            conversation.webhook_busy_until = None
            conversation.save()
    except Exception:
        # The message counts as handled already (never asked twice): only the mark goes.
        logger.exception("Skill chat: the webhook's answer in thread %s was lost", thread_id)
        SkillConversation.objects.filter(pk=thread_id).update(webhook_busy_until=None)
        return False
    return True


def lock_conversation(thread_id: int, message_id: int | None) -> SkillConversation | None:
    """
    Lock and return the thread's conversation, creating it for a thread with a skill
    partner (None for a thread without one). An UPDATE takes the lock: a row lock on
    PostgreSQL, and on SQLite the write lock before anything is read.
    """
    conversations = SkillConversation.objects.filter(pk=thread_id)
    if not conversations.update(session_seq=F("session_seq")):
        partner = _partner_of(thread_id)
        if partner is None:
            return None
        # Answer from the message that asked: a thread older than its link to the skill
        # keeps its history to itself.
        before = Message.objects.filter(thread_id=thread_id)
        if message_id is not None:
            before = before.filter(id__lt=message_id)
        newest = before.order_by("-id").values_list("id", flat=True).first() or 0
        try:
            with transaction.atomic():
                SkillConversation.objects.create(
                    thread_id=thread_id, partner=partner, last_handled_message_id=newest
                )
        except IntegrityError:
            pass  # another process made it meanwhile
        conversations.update(session_seq=F("session_seq"))
    return conversations.select_related("partner__user", "thread").first()


def _partner_of(thread_id: int) -> SkillPartner | None:
    members = Membership.objects.filter(thread_id=thread_id).values("user_id")
    return SkillPartner.objects.filter(user_id__in=members).select_related("user").first()


def _next_work(conversation: SkillConversation) -> _Work | None:
    if conversation.restart_requested:
        return _Work(None, alice_requests.greeting_body())
    message = (
        Message.objects.filter(
            thread_id=conversation.thread_id, id__gt=conversation.last_handled_message_id
        )
        .exclude(sender_id=conversation.partner.user_id)
        .order_by("id")
        .first()
    )
    if message is None:
        return None
    return _Work(message, _body_of(conversation, message))


def _body_of(conversation: SkillConversation, message: Message) -> dict[str, Any]:
    """A typed message's utterance, or a tapped button's ButtonPressed with its payload."""
    reference = (message.attachments or {}).get("button")
    if isinstance(reference, dict):
        tapped = (
            Message.objects.filter(
                pk=reference.get("message_id"),
                thread_id=conversation.thread_id,
                sender_id=conversation.partner.user_id,
            )
            .values_list("attachments", flat=True)
            .first()
        )
        buttons = (tapped or {}).get("buttons") or []
        index = reference.get("index")
        if isinstance(index, int) and 0 <= index < len(buttons) and "payload" in buttons[index]:
            return alice_requests.button_body(message.text, buttons[index]["payload"])
    # A button without a payload is its title said, as in Alice.
    return alice_requests.utterance_body(message.text)


def _request(conversation: SkillConversation, work: _Work, zone: str | None) -> dict[str, Any]:
    """The Alice request of *work*; a restart, or the message after an ended session,
    opens a new session."""
    if work.message is None or conversation.ended:
        if work.message is not None or conversation.alice_message_seq:
            conversation.session_seq += 1
        conversation.alice_message_seq = 0
        conversation.ended = False
    user_id = next(
        user_id
        for user_id in selectors.thread_participants(thread=conversation.thread)
        if user_id != conversation.partner.user_id
    )
    return alice_requests.build_request(
        work.body,
        partner_id=conversation.partner_id,
        user_id=user_id,
        thread_id=conversation.thread_id,
        session_seq=conversation.session_seq,
        message_id=conversation.alice_message_seq,
        time_zone=zone or settings.TIME_ZONE,
        states=conversation.states,
    )


def _ask_mounted(partner: SkillPartner, request: dict[str, Any]) -> dict[str, Any] | None:
    """The skill's answer (a script that raises gets its own apology from the engine)."""
    skill = mounted_skill(partner.mounted_skill)
    if skill is None:
        logger.error(
            "Skill chat: partner %s names no mounted skill %r", partner.pk, partner.mounted_skill
        )
        return None
    try:
        return skill.respond(request)
    except Exception:
        logger.exception("Skill chat: skill %r failed outside its script", partner.mounted_skill)
        return None


def _ask_webhook(
    partner: SkillPartner, request: dict[str, Any], timeout: float
) -> dict[str, Any] | None:
    try:
        data = webhook.call_webhook(partner.webhook_url, request, timeout=timeout)
    except (webhook.WebhookRefused, webhook.WebhookFailed) as exc:
        logger.error("Skill chat: the webhook of partner %s: %s", partner.pk, exc)
        return None
    answer = answers.valid_answer(data)
    if answer is None:
        logger.error("Skill chat: the webhook of partner %s gave no protocol answer", partner.pk)
    return answer


def _post(conversation: SkillConversation, answer: dict[str, Any] | None) -> None:
    """Create the skill's message: its answer, or the failure line."""
    if answer is None:
        text, attachments = answers.failure_text(), {"buttons": [], "end_session": False}
    else:
        text, attachments = answers.chat_message(answer)
    try:
        text = services.clean_message_text(text)
    except services.MessageError:
        text = answers.NO_TEXT
    thread: Thread = conversation.thread
    services.message_create(
        sender=conversation.partner.user, thread=thread, text=text, attachments=attachments
    )


def _advance(
    conversation: SkillConversation,
    work: _Work,
    answer: dict[str, Any] | None,
    *,
    asked: bool = True,
) -> None:
    """Mark *work* done (and, with its *answer*, what the answer says) and save; *asked*:
    a request was made, its message_id is used."""
    if work.message is not None:
        conversation.last_handled_message_id = work.message.pk
    conversation.restart_requested = False
    if asked:
        conversation.alice_message_seq += 1
    if answer is not None:
        _take_answer(conversation, answer)
    conversation.save()


def _take_answer(conversation: SkillConversation, answer: dict[str, Any] | None) -> None:
    if answer is None:
        return
    conversation.ended = bool((answer.get("response") or {}).get("end_session"))
    conversation.states = alice_requests.states_after(conversation.states, answer)


def _give_up(thread_id: int) -> None:
    """After a failure: skip the message it was on, with the failure line, if that works."""
    try:
        with transaction.atomic():
            conversation = lock_conversation(thread_id, None)
            if conversation is None:
                return
            work = _next_work(conversation)
            if work is None:
                return
            _post(conversation, None)
            _advance(conversation, work, None)
    except Exception:
        logger.exception("Skill chat: thread %s: not even the failure line", thread_id)
