"""A user's chat settings (``ChatProfile``): reads and writes."""

from django.db import transaction

from . import events, presence
from .models import ChatProfile

SETTINGS = ("send_receipts", "show_presence", "notifications")


def chat_settings(user_id: int) -> tuple[bool, bool]:
    """Return whether *user_id* sends receipts and shows presence (both on by default)."""
    row = ChatProfile.objects.filter(user_id=user_id).values_list("send_receipts", "show_presence")
    return next(iter(row), (True, True))


def profile_get(*, user_id: int) -> ChatProfile:
    """Return *user_id*'s profile, unsaved with the defaults if they have none yet."""
    return ChatProfile.objects.filter(user_id=user_id).first() or ChatProfile(user_id=user_id)


def profile_update(*, user_id: int, **values: bool) -> ChatProfile:
    """Set some of *user_id*'s SETTINGS (checked by the caller's form)."""
    unknown = set(values) - set(SETTINGS)
    assert not unknown, f"not settings: {unknown}"
    with transaction.atomic():
        profile, _ = ChatProfile.objects.select_for_update().get_or_create(user_id=user_id)
        for name, value in values.items():
            setattr(profile, name, value)
        if values.get("show_presence") is False:
            profile.last_seen = None
        profile.save(update_fields=[*values, "last_seen"])
        if values.get("show_presence") is False:
            transaction.on_commit(lambda: presence.forget_user(user_id), robust=True)
        # The user's open sockets read their settings again.
        transaction.on_commit(lambda: events.announce_settings_changed(user_id), robust=True)
    return profile
