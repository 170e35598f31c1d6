from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from .forms import TimezoneForm
from .middleware import TIMEZONE_COOKIE

# Set (to "1") when the user picked the zone: timezone.js then leaves the
# ``timezone`` cookie alone instead of writing the browser's zone into it.
TIMEZONE_MANUAL_COOKIE = "timezone_manual"
TIMEZONE_COOKIE_MAX_AGE = 365 * 24 * 60 * 60


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
            # With nowhere to go back to: the site's home, as after logging in.
            response = redirect(next_url or settings.LOGIN_REDIRECT_URL)
            set_timezone_cookies(request, response, form.cleaned_data["timezone"])
            return response
    else:
        manual = request.COOKIES.get(TIMEZONE_MANUAL_COOKIE) == "1"
        form = TimezoneForm(
            initial={"timezone": request.COOKIES.get(TIMEZONE_COOKIE, "") if manual else ""}
        )
    return render(request, "timezones/timezone.html", {"form": form, "next_url": next_url})


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
