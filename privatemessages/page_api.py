"""
JSON endpoints the chat pages call with the user's session (docs/protocol.md,
"Older history and long lists"): older messages of a thread, username
suggestions for the new-message form, and the notifications switch. Thin:
the checks, then a selector or a service.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import events, profiles, selectors
from .api import api_error
from .forms import before_id
from .frames import seconds
from .models import MAX_ID, is_storable
from .userlimits import take_search

# The longest prefix worth looking up: no username is longer.
USER_SEARCH_MAX_LENGTH = 150


@login_required
@require_GET
def history(request: HttpRequest, thread_id: int) -> JsonResponse:
    """Up to a page of the thread's messages before ``?before=<id>``, oldest first."""
    raw = request.GET.get("before")
    before = before_id(raw) if raw is not None else MAX_ID
    if before is None:
        return api_error(400, "invalid_before", _("before должен быть id сообщения."))
    thread = selectors.thread_for_participant(thread_id=thread_id, user=request.user)
    if thread is None:
        return api_error(404, "thread_not_found", _("Такого диалога нет."))
    messages, more = selectors.messages_before(
        thread_id=thread.pk, before_id=before, limit=selectors.CHAT_HISTORY_LENGTH
    )
    payloads = [
        events.message_for_user(events.stored_message_payload(message), request.user.pk)
        for message in messages
    ]
    return JsonResponse({"messages": payloads, "more": more})


@require_GET
def user_search(request: HttpRequest) -> JsonResponse:
    """Usernames starting with ``?q=``, for the "Кому" field; rate-limited per user."""
    user = request.user
    if not user.is_authenticated:
        return api_error(401, "unauthenticated", _("Сначала войдите."))
    query = request.GET.get("q", "").strip()
    if not query or len(query) > USER_SEARCH_MAX_LENGTH or not is_storable(query):
        return JsonResponse({"users": []})
    retry_after = take_search(user.pk)
    if retry_after:
        response = JsonResponse(
            {
                "error": {
                    "code": "rate_limited",
                    "detail": _("Слишком много запросов, подождите немного."),
                },
                "retry_after": seconds(retry_after),
            },
            status=429,
        )
        response["Retry-After"] = str(max(1, round(retry_after)))
        return response
    users = selectors.usernames_matching(prefix=query, user=user)
    return JsonResponse({"users": users})


@login_required
@require_POST
def notifications(request: HttpRequest) -> JsonResponse:
    """Turn the user's browser notifications on (``enabled=1``) or off (``enabled=0``)."""
    enabled = request.POST.get("enabled")
    if enabled not in ("0", "1"):
        return api_error(400, "invalid_enabled", _("enabled должен быть 0 или 1."))
    profile = profiles.profile_update(user_id=request.user.pk, notifications=enabled == "1")
    return JsonResponse({"notifications": profile.notifications})
