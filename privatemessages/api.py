"""
The JSON API for other services: POST a message to a thread on behalf of one
of its participants (docs/http-api.md). It answers with the message in the
WebSocket's wire form (events.message_payload).
"""

import codecs
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from . import events, selectors
from .conf import app_settings
from .models import is_valid_id
from .services import MessageError, check_message, message_create

# The largest body worth reading: the longest text, each character written as
# a JSON escape pair ("\ud83d\ude00"), plus room for the other fields.
API_MAX_BODY_BYTES = app_settings.MAX_TEXT_LENGTH * 12 + 4096

# MessageError code -> HTTP status.
API_ERROR_STATUS = {
    "empty": 400,
    "invalid_text": 400,
    "too_long": 413,
    "not_participant": 403,
}


def api_error(status: int, code: str, detail: str | Promise) -> JsonResponse:
    """
    Return the API's error body, ``{"error": {"code": ..., "detail": ...}}``;
    ``detail`` in the request's language (Accept-Language, Russian by default).
    """
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


@csrf_exempt
def send_message_api(request: HttpRequest, thread_id: int) -> HttpResponse:
    """
    Post a message to thread *thread_id* on behalf of one of its participants.
    Authenticated by the ``X-Api-Key`` header, not by a session (so no CSRF).
    Checks run in the documented order, so a caller without the key learns
    nothing about which threads exist.
    """
    if request.method != "POST":
        response = api_error(405, "method_not_allowed", _("Разрешён только POST."))
        response["Allow"] = "POST"
        return response
    if not _api_key_is_valid(request.headers.get("X-Api-Key", "")):
        return api_error(401, "unauthorized", _("Заголовок X-Api-Key не указан или неверен."))
    data = _read_json_object(request)
    if isinstance(data, JsonResponse):
        return data

    if "sender_id" in data:
        if not is_valid_id(data["sender_id"]):
            return api_error(
                400, "invalid_sender", _("sender_id должен быть целым числом больше 0.")
            )
        sender = selectors.user_get(user_id=data["sender_id"])
    elif "sender" in data:
        if not isinstance(data["sender"], str):
            return api_error(
                400, "invalid_sender", _("sender должен быть именем пользователя (строкой).")
            )
        sender = selectors.user_get_by_username(username=data["sender"])
    else:
        return api_error(
            400, "missing_sender", _("Укажите sender_id (или sender, имя пользователя).")
        )
    if "text" not in data:
        return api_error(400, "missing_text", _("Укажите text."))

    thread = selectors.thread_get(thread_id=thread_id)
    if thread is None:
        return api_error(404, "thread_not_found", _("Такого диалога нет."))
    if sender is None:
        return api_error(400, "unknown_sender", _("Такого отправителя нет."))
    try:
        checked = check_message(data["text"])
        message = message_create(sender=sender, thread=thread, text=checked.text)
    except MessageError as error:
        return api_error(API_ERROR_STATUS.get(error.code, 400), error.code, error.message)
    return JsonResponse(events.message_payload(message), status=201)


def _read_json_object(request: HttpRequest) -> dict | JsonResponse:
    """Return the body as a JSON object, or the error response that refuses it."""
    body = _read_body(request)
    if body is None:
        return api_error(
            413,
            "too_large",
            _("Тело запроса больше %(limit)s байт.") % {"limit": API_MAX_BODY_BYTES},
        )
    charset = request.content_params.get("charset")
    if charset is not None and not _names_utf8(charset):
        return api_error(
            400,
            "invalid_json",
            _("Content-Type объявляет charset=%(charset)r; отправляйте UTF-8.")
            % {"charset": charset},
        )
    text = _utf8_text(body)
    if text is None:
        return api_error(
            400,
            "invalid_json",
            _("Тело запроса не в UTF-8 (UTF-16, latin-1…); отправляйте UTF-8."),
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return api_error(400, "invalid_json", _("Тело запроса не является JSON в UTF-8."))
    if not isinstance(data, dict):
        return api_error(400, "invalid_json", _("Тело запроса должно быть объектом JSON."))
    return data


def _api_key_is_valid(provided: str) -> bool:
    expected = app_settings.API_KEY
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
