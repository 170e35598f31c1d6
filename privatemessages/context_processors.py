"""What every page's header shows of the chat: the unread total, and the switches."""

from django.http import HttpRequest
from django.urls import reverse

from .conf import app_settings
from .models import ChatProfile


def chat_user(request: HttpRequest) -> dict:
    """
    ``pm_unread_total`` and its version, ``pm_notifications`` and the
    sockets' ``pm_keepalive_every``, for a signed-in user.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    row = (
        ChatProfile.objects.filter(user_id=user.pk)
        .values_list("unread_total", "unread_version", "notifications")
        .first()
    )
    total, version, notifications = row or (0, 0, False)
    return {
        "pm_unread_total": total,
        "pm_unread_version": version,
        "pm_notifications": notifications,
        "pm_settings_url": reverse("privatemessages:settings"),
        "pm_notifications_url": reverse("privatemessages:notifications"),
        # For the pages' sockets (socket.js), in seconds; a string, so that no
        # locale formats it.
        "pm_keepalive_every": f"{app_settings.KEEPALIVE_EVERY:g}",
    }
