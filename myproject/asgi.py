"""ASGI entry point: HTTP to Django, WebSockets to the privatemessages routes."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from myproject.socket_gate import SocketGate  # noqa: E402
from privatemessages.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin check, cookies, session, user, time zone and route in one
        # frame (socket_gate.py); a path no route takes is refused.
        "websocket": SocketGate(websocket_urlpatterns),
    }
)
