"""ASGI entry point: HTTP to Django, WebSockets to the privatemessages routes."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from myproject.websocket_handshake import SiteOriginValidator, refuse_unrouted  # noqa: E402
from privatemessages.routing import websocket_urlpatterns  # noqa: E402
from timezones.middleware import TimezoneSocketMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SiteOriginValidator(
            AuthMiddlewareStack(
                TimezoneSocketMiddleware(
                    # Last: any path the routes above do not take.
                    URLRouter([*websocket_urlpatterns, re_path(r"", refuse_unrouted)])
                )
            )
        ),
    }
)
