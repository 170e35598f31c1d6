"""Writes of skillchat outside the answering itself (runner.py)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from privatemessages import selectors
from privatemessages.models import Thread

from . import runner
from .models import SkillConversation, SkillPartner


def skill_thread_for_participant(*, thread_id: int, user: AbstractBaseUser) -> Thread | None:
    """Return the thread if *user* takes part in it and its partner is a skill, else None."""
    thread = selectors.thread_for_participant(thread_id=thread_id, user=user)
    if thread is None:
        return None
    partners = SkillPartner.objects.filter(user__message_threads=thread).exclude(user=user)
    return thread if partners.exists() else None


def conversation_restart(*, thread: Thread, zone: str | None = None) -> None:
    """
    Start the thread's dialog over: a new Alice session, opened with an empty utterance so
    the skill greets; what was said before and is still unanswered is left unanswered.
    """
    with transaction.atomic():
        newest = selectors.thread_newest_id(thread_id=thread.pk)
        conversation = runner.lock_conversation(thread.pk, None)
        if conversation is None:
            return
        SkillConversation.objects.filter(pk=thread.pk).update(
            restart_requested=True,
            last_handled_message_id=max(newest, conversation.last_handled_message_id),
        )
        transaction.on_commit(lambda: runner.schedule(thread.pk, zone=zone))
