import zoneinfo
from collections.abc import Callable
from functools import cache, lru_cache

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

TIMEZONE_COOKIE = "timezone"


@cache
def known_zone_names() -> frozenset[str]:
    """Return the names of every IANA zone installed (read once: it scans the disk)."""
    # "localtime" is the host's own zone under a name that is no IANA name.
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


@lru_cache(maxsize=1024)
def zone_from_name(name: str) -> zoneinfo.ZoneInfo | None:
    """Return the IANA zone called *name*, or None for anything unknown or forged."""
    if not name or len(name) > 64 or name not in known_zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


class TimezoneMiddleware:
    """
    Activate the zone the browser reported in the ``timezone`` cookie for one
    request, and always deactivate it afterwards so it never leaks into the
    next request served by the same thread. A bad value means the server zone.
    (A WebSocket's zone, for the socket's life: myproject/socket_gate.py.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = zone_from_name(request.COOKIES.get(TIMEZONE_COOKIE, ""))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
