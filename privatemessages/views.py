"""
Thin views: validate the input, call a selector or the message service, render.
"""

import codecs
import json
from datetime import UTC

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors
from .forms import MessageForm, TimezoneForm
from .middleware import TIMEZONE_COOKIE
from .models import Message
from .services import MessageError, message_create, message_send_to_username

# Set (to "1") when the user picked the zone: timezone.js then leaves the
# ``timezone`` cookie alone instead of writing the browser's zone into it.
TIMEZONE_MANUAL_COOKIE = "timezone_manual"
TIMEZONE_COOKIE_MAX_AGE = 365 * 24 * 60 * 60


@login_required
@require_GET
def thread_list(request: HttpRequest) -> HttpResponse:
    return _render_thread_list(request, MessageForm())


@login_required
@require_GET
def chat(request: HttpRequest, thread_id: int) -> HttpResponse:
    view = selectors.chat_for_participant(thread_id=thread_id, user=request.user)
    if view is None:
        raise Http404("No such thread.")
    return _render_chat(request, view, MessageForm(initial={"recipient": view.partner_name}))


@login_required
@require_POST
def send_message(request: HttpRequest) -> HttpResponse:
    """The POST target of the new-message form and of the chat page without JS."""
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            message = message_send_to_username(
                sender=request.user,
                recipient_username=form.cleaned_data["recipient"],
                text=form.cleaned_data["text"],
            )
        except MessageError as error:
            form.add_message_error(error)
        else:
            return redirect(message.thread.get_absolute_url())
    thread_id = form.cleaned_data.get("thread")
    if thread_id:
        view = selectors.chat_for_participant(thread_id=thread_id, user=request.user)
        if view is not None:
            return _render_chat(request, view, form)
    return _render_thread_list(request, form)


def _render_thread_list(request: HttpRequest, form: MessageForm) -> HttpResponse:
    threads = selectors.thread_list_for_user(user=request.user)
    return render(request, "privatemessages/thread_list.html", {"threads": threads, "form": form})


def _render_chat(
    request: HttpRequest, view: selectors.ChatView, form: MessageForm
) -> HttpResponse:
    return render(
        request,
        "privatemessages/chat.html",
        {"chat": view, "thread": view.thread, "form": form},
    )


@login_required
@require_http_methods(["GET", "POST"])
def choose_timezone(request: HttpRequest) -> HttpResponse:
    """Let the user pick a zone, or go back to the one the browser reports."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    if request.method == "POST":
        form = TimezoneForm(request.POST)
        if form.is_valid():
            response = redirect(next_url or "privatemessages:thread_list")
            set_timezone_cookies(request, response, form.cleaned_data["timezone"])
            return response
    else:
        manual = request.COOKIES.get(TIMEZONE_MANUAL_COOKIE) == "1"
        form = TimezoneForm(
            initial={"timezone": request.COOKIES.get(TIMEZONE_COOKIE, "") if manual else ""}
        )
    return render(request, "privatemessages/timezone.html", {"form": form, "next_url": next_url})


def set_timezone_cookies(request: HttpRequest, response: HttpResponse, zone: str) -> None:
    """Remember the zone the user picked, or (for "") go back to the browser's zone."""
    if not zone:
        response.delete_cookie(TIMEZONE_MANUAL_COOKIE, samesite="Lax")
        return
    # Not HttpOnly: timezone.js reads both cookies.
    for name, value in ((TIMEZONE_COOKIE, zone), (TIMEZONE_MANUAL_COOKIE, "1")):
        response.set_cookie(
            name,
            value,
            max_age=TIMEZONE_COOKIE_MAX_AGE,
            samesite="Lax",
            secure=request.is_secure(),
        )


# The JSON API for other services.

# The largest body worth reading: the longest text, each character written as
# a JSON escape pair ("\ud83d\ude00"), plus room for the other fields.
API_MAX_BODY_BYTES = settings.PRIVATEMESSAGES_MAX_TEXT_LENGTH * 12 + 4096

# MessageError code -> HTTP status.
API_ERROR_STATUS = {
    "empty": 400,
    "invalid_text": 400,
    "too_long": 413,
    "not_participant": 403,
    "self_recipient": 400,
    "unknown_recipient": 400,
}


def api_error(status: int, code: str, detail: str, **kwargs) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status, **kwargs)


@csrf_exempt
def send_message_api(request: HttpRequest, thread_id: int) -> HttpResponse:
    """
    Post a message to thread *thread_id* on behalf of one of its participants.
    Authenticated by the ``X-Api-Key`` header, not by a session (so no CSRF).
    See docs/http-api.md.
    """
    if request.method != "POST":
        response = api_error(405, "method_not_allowed", "Only POST is allowed.")
        response["Allow"] = "POST"
        return response
    if not _api_key_is_valid(request.headers.get("X-Api-Key", "")):
        return api_error(401, "unauthorized", "Missing or wrong X-Api-Key header.")
    body = _read_body(request)
    if body is None:
        return api_error(
            413, "too_large", f"The request body is larger than {API_MAX_BODY_BYTES} bytes."
        )
    charset = request.content_params.get("charset")
    if charset is not None and not _names_utf8(charset):
        return api_error(
            400, "invalid_json", f"Content-Type declares charset={charset!r}; send UTF-8."
        )
    text = _utf8_text(body)
    if text is None:
        return api_error(
            400, "invalid_json", "The request body is not UTF-8 (UTF-16, latin-1...); send UTF-8."
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return api_error(400, "invalid_json", "The request body is not valid UTF-8 JSON.")
    if not isinstance(data, dict):
        return api_error(400, "invalid_json", "The request body must be a JSON object.")

    if "sender_id" in data:
        if not selectors.is_valid_id(data["sender_id"]):
            return api_error(400, "invalid_sender", "sender_id must be a positive integer.")
        sender = selectors.user_get(user_id=data["sender_id"])
    elif "sender" in data:
        if not isinstance(data["sender"], str):
            return api_error(400, "invalid_sender", "sender must be a username (a string).")
        sender = selectors.user_get(username=data["sender"])
    else:
        return api_error(400, "missing_sender", "Give sender_id (or sender, a username).")
    if "text" not in data:
        return api_error(400, "missing_text", "Give text.")

    thread = selectors.thread_get(thread_id=thread_id)
    if thread is None:
        return api_error(404, "thread_not_found", "No such thread.")
    if sender is None:
        return api_error(400, "unknown_sender", "No such sender.")
    try:
        message = message_create(sender=sender, thread=thread, text=data["text"])
    except MessageError as error:
        return api_error(API_ERROR_STATUS.get(error.code, 400), error.code, error.message)
    return JsonResponse(api_message(message), status=201)


def api_message(message: Message) -> dict:
    return {
        "id": message.pk,
        "thread": message.thread_id,
        "sender": message.sender.get_username(),
        "sender_id": message.sender_id,
        "text": message.text,
        "created": message.created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def _api_key_is_valid(provided: str) -> bool:
    expected = settings.PRIVATEMESSAGES_API_KEY
    # An unset key disables the API rather than accepting an empty header.
    return bool(expected) and constant_time_compare(provided, expected)


def _names_utf8(charset: str) -> bool:
    """Whether *charset* (from Content-Type) is a name of UTF-8, such as "UTF-8" or "utf8"."""
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


def _utf8_text(body: bytes) -> str | None:
    """
    Return *body* decoded as UTF-8, or None if it is not UTF-8. json.loads()
    would guess UTF-16 and UTF-32 from the bytes and accept them.
    """
    # UTF-16 and UTF-32 text of ASCII characters is valid UTF-8 byte for
    # byte, with NULs between; UTF-8 JSON holds no raw NUL.
    if b"\x00" in body:
        return None
    try:
        # A leading byte order mark is ignored, as RFC 8259 allows.
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _read_body(request: HttpRequest) -> bytes | None:
    """Return the request body, or None if it is larger than API_MAX_BODY_BYTES."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > API_MAX_BODY_BYTES:
        return None
    body = request.read(API_MAX_BODY_BYTES + 1)
    return body if len(body) <= API_MAX_BODY_BYTES else None
