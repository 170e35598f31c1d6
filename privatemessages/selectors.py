"""
Reads. Access checks return None for "not yours", so that callers answer 404
for a thread that exists but belongs to others exactly as for one that does not.
"""

from django.contrib.auth.models import AbstractBaseUser

from .models import Message, Thread


def thread_for_participant(*, thread_id: int, user: AbstractBaseUser) -> Thread | None:
    """Return thread *thread_id* if *user* takes part in it, else None."""
    if not user.is_authenticated:
        return None
    return Thread.objects.filter(pk=thread_id, participants=user).first()


def messages_after(*, thread_id: int, after_id: int, limit: int = 500) -> list[Message]:
    """Return up to *limit* messages of the thread with id > *after_id*, oldest first."""
    return list(
        Message.objects.filter(thread_id=thread_id, id__gt=after_id)
        .select_related("sender")
        .order_by("id")[:limit]
    )
