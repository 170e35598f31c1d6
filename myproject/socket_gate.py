"""
Every WebSocket's way in, as ONE ASGI application: the origin check, the
cookies, the session, the user, the time zone and the route, then the consumer.

It does what this stack did:

    SiteOriginValidator(AuthMiddlewareStack(TimezoneSocketMiddleware(URLRouter(routes))))

but in one ``async def __call__``. Each layer of that stack stayed suspended
in a frame of its own for the socket's whole life (an idle chat tab keeps its
socket for hours), and Channels' layers each kept a copy of the scope; with
thousands of idle sockets per process that came to ≈ 4.5 KB per socket
(bench/README.md, "2026-12-01: idle memory per socket"). Here one frame stays,
and one scope dict is built for the consumer.

What consumers rely on is kept as Channels provides it: ``scope["cookies"]``
(CookieMiddleware), ``scope["session"]`` a SessionStore of SESSION_ENGINE for
SESSION_COOKIE_NAME (SessionMiddleware), ``scope["user"]`` from
``channels.auth.get_user`` (AuthMiddleware; here the User or AnonymousUser
itself, not a lazy wrapper), ``scope["url_route"]`` and
``scope["path_remaining"]`` (URLRouter), so ``channels.auth.login``/``logout``
keep working on the scope.
"""

from importlib import import_module

from channels.auth import get_user
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import parse_cookie
from django.urls import URLPattern
from django.utils import timezone

from myproject.websocket_handshake import (
    Application,
    Receive,
    Send,
    origin_refused,
    refuse_handshake,
    refuse_unrouted,
)
from timezones.middleware import TIMEZONE_COOKIE, zone_from_name


class SocketGate:
    """
    The ASGI application of the site's WebSockets, over *routes* (``path()``
    and ``re_path()`` of ASGI applications or consumers' ``as_asgi()``), tried
    in order as Channels' outermost URLRouter tries them; a path none takes is
    refused at the handshake (``refuse_unrouted``).
    """

    def __init__(self, routes: list[URLPattern]) -> None:
        for route in routes:
            # include() or a nested URLRouter would need URLRouter's
            # non-endpoint patterns and path_remaining chaining: not needed
            # by the chat's flat routes, so refused rather than half done.
            nested = getattr(getattr(route, "callback", None), "_path_routing", False)
            if not isinstance(route, URLPattern) or nested:
                raise ImproperlyConfigured(f"SocketGate takes flat routes only, not {route!r}.")
        self.routes = routes

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        # Everything that is not needed for the socket's life is done in
        # plain functions: only this frame, and what it keeps, stays.
        if scope["type"] != "websocket":
            raise ValueError("SocketGate only serves WebSocket connections.")
        if origin_refused(scope):
            return await refuse_handshake(scope, receive, send)
        # Routed before the session and user are read: a path no consumer
        # takes is refused without a database round trip.
        routed = self.resolve(scope)
        if routed is None:
            return await refuse_unrouted(scope, receive, send)
        application, path_remaining, url_route = routed
        cookies = handshake_cookies(scope)
        # The one scope the consumer gets (the server keeps its own).
        scope = {
            **scope,
            "cookies": cookies,
            "session": import_module(settings.SESSION_ENGINE).SessionStore(
                cookies.get(settings.SESSION_COOKIE_NAME)
            ),
            "path_remaining": path_remaining,
            "url_route": url_route,
        }
        # Channels' own lookup (in a database thread): the session's user if
        # its backend is still configured and its auth hash still matches,
        # else AnonymousUser (and a session whose hash does not is flushed).
        scope["user"] = await get_user(scope)
        application = instantiate(application)
        # The zone of the handshake's cookie, active for the socket's whole
        # life as a request's zone is for the request (TimezoneMiddleware):
        # the socket runs in a task of its own, so the zone stays with it, and
        # its database work (which takes the task's context) sees it too, so
        # a skill asked after a socket's message gets the user's zone.
        zone = zone_from_name(cookies.get(TIMEZONE_COOKIE, ""))
        if zone is None:
            return await application(scope, receive, send)
        timezone.activate(zone)
        try:
            return await application(scope, receive, send)
        finally:
            timezone.deactivate()

    def resolve(self, scope: dict) -> tuple[Application, str, dict] | None:
        """
        Return the application of the first route that takes the handshake's
        path, the rest of the path and the ``url_route`` entry (args, kwargs),
        as Channels' outermost URLRouter does; None when no route takes it.
        """
        path = scope.get("path")
        if path is None:
            raise ValueError("No 'path' key in connection scope, cannot route URLs")
        root_path = scope.get("root_path", "")
        if root_path and not path.startswith(root_path):
            # URLRouter's answer too (a server misconfigured, not a wrong address).
            raise ValueError(f"No route found for path {path!r}.")
        # Without the leading slash, as Django's resolver sees a path.
        path = path[len(root_path) :].lstrip("/")
        for route in self.routes:
            match = route.pattern.match(path)
            if match:
                path_remaining, args, kwargs = match
                kwargs.update(route.default_args)
                return route.callback, path_remaining, {"args": args, "kwargs": kwargs}
        return None


def handshake_cookies(scope: dict) -> dict[str, str]:
    """The handshake's cookies, read as Channels' CookieMiddleware reads them."""
    for name, value in scope["headers"]:
        if name == b"cookie":
            return parse_cookie(value.decode("latin1"))
    return {}


def instantiate(application: Application) -> Application:
    """
    Return a consumer instance for a consumer's ``as_asgi()`` application
    (what its wrapper does per connection, without the wrapper's frame kept
    for the socket's life); any other ASGI application as it is.
    """
    consumer_class = getattr(application, "consumer_class", None)
    if consumer_class is None:
        return application
    return consumer_class(**application.consumer_initkwargs)
