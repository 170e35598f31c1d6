"""The restart of a skill conversation ("начать заново"), mounted beside the chat's URLs."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from timezones.middleware import TIMEZONE_COOKIE, zone_from_name

from . import services


@require_POST
@login_required
def restart(request: HttpRequest, thread_id: int) -> HttpResponse:
    """
    Restart the skill's dialog in a thread the user takes part in: 303 to the chat page
    (a form), 204 for ``Accept: application/json`` (fetch); 404 for any other thread.
    """
    thread = services.skill_thread_for_participant(thread_id=thread_id, user=request.user)
    if thread is None:
        raise Http404("No such skill thread.")
    zone = zone_from_name(request.COOKIES.get(TIMEZONE_COOKIE, ""))
    services.conversation_restart(thread=thread, zone=zone.key if zone is not None else None)
    if "application/json" in request.headers.get("Accept", ""):
        return HttpResponse(status=204)
    response = HttpResponseRedirect(thread.get_absolute_url())
    response.status_code = 303  # See Other: the form's POST becomes a GET of the chat
    return response
