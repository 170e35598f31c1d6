"""The tutorial's asgi.py (origin check, session auth, one route) and its ChatConsumer,
on the chat's wire protocol."""

import json
import os
from datetime import UTC, datetime

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.chat.peer.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.thread = int(self.scope["url_route"]["kwargs"]["thread_id"])
        self.group_name = f"chat_{self.thread}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        data = json.loads(text_data)
        if data.get("type") != "message":
            return
        await self.channel_layer.group_send(
            self.group_name,
            {
                "type": "chat.message",
                "text": data.get("text", ""),
                "client_id": data.get("client_id"),
                "sender": self.scope["user"].get_username(),
            },
        )

    async def chat_message(self, event):
        await self.send(
            text_data=json.dumps(
                {
                    "type": "message",
                    "id": None,
                    "thread": self.thread,
                    "sender": event["sender"],
                    "text": event["text"],
                    "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "client_id": event["client_id"],
                }
            )
        )


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter([path("ws/messages/<int:thread_id>/", ChatConsumer.as_asgi())])
            )
        ),
    }
)
