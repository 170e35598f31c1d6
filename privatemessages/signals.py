"""
A session that ends ends its sockets, on every process (docs/protocol.md,
"When a session ends"). A socket is authenticated once, at its handshake;
these receivers tell the sockets when that no longer holds:

- logging out ends the sockets opened with that session only (the user's
  other browsers stay signed in, as they do over HTTP);
- a new password hash, ``is_active`` turning False or deleting the user ends
  all of the user's sockets: Django invalidates every session then (the
  session auth hash comes from the password; ModelBackend refuses inactive
  users). Django keeps one session valid across a password change, the one
  that made it, under a new key: its tab is told to sign in again and a
  reload finds it signed in; telling it apart would cost a database read per
  socket and race the session's own save.

Announced after commit: a rolled-back change ends nothing.

Changes that bypass signals (``QuerySet.update()``, raw SQL) are not seen.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from . import events

_CREDENTIAL_FIELDS = frozenset({"password", "is_active"})


def connect() -> None:
    """Connect the receivers (from AppConfig.ready)."""
    user_model = get_user_model()
    user_logged_out.connect(logged_out, dispatch_uid="privatemessages.logged_out")
    pre_save.connect(
        note_credentials, sender=user_model, dispatch_uid="privatemessages.note_credentials"
    )
    post_save.connect(
        credentials_saved, sender=user_model, dispatch_uid="privatemessages.credentials_saved"
    )
    post_delete.connect(user_deleted, sender=user_model, dispatch_uid="privatemessages.deleted")


def logged_out(sender, request=None, user=None, **kwargs) -> None:
    # Sent before the session is flushed: its key is still there.
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if user is None or user.pk is None or not session_key:
        return
    user_id = user.pk
    transaction.on_commit(
        lambda: events.announce_sessions_ended(user_id, session_key=session_key), robust=True
    )


def note_credentials(
    sender, instance, raw=False, using=None, update_fields=None, **kwargs
) -> None:
    """Remember, for credentials_saved, whether this save ends the user's sessions."""
    instance._privatemessages_ends_sessions = False
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not _CREDENTIAL_FIELDS.intersection(update_fields):
        return  # e.g. last_login at every login: no query
    fields = [name for name in ("password", "is_active") if _has_field(sender, name)]
    if not fields:
        return
    before = sender._base_manager.using(using).filter(pk=instance.pk).values(*fields).first()
    if before is None:
        return
    instance._privatemessages_ends_sessions = (
        "password" in before and before["password"] != instance.password
    ) or ("is_active" in before and before["is_active"] and not instance.is_active)


def credentials_saved(sender, instance, created=False, **kwargs) -> None:
    if created or not getattr(instance, "_privatemessages_ends_sessions", False):
        return
    instance._privatemessages_ends_sessions = False
    user_id = instance.pk
    transaction.on_commit(lambda: events.announce_sessions_ended(user_id), robust=True)


def user_deleted(sender, instance, **kwargs) -> None:
    user_id = instance.pk
    if user_id is not None:
        transaction.on_commit(lambda: events.announce_sessions_ended(user_id), robust=True)


def _has_field(model, name: str) -> bool:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return field.concrete
