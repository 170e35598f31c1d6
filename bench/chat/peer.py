"""
The peer: the Channels tutorial's consumer (``group_send`` relay, no persistence) behind
``AllowedHostsOriginValidator(AuthMiddlewareStack(...))`` on the default RedisChannelLayer,
speaking the chat's wire protocol. Both its settings (the upper-case names, read while this
module is still being imported) and its ASGI application.
"""

import json
import os
from datetime import UTC, datetime

import dj_database_url

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]
INSTALLED_APPS += ["channels"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = __name__  # no HTTP URLs
urlpatterns: list = []
# The bench database, for the session and user lookups of AuthMiddlewareStack.
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# The tutorial's layer with its defaults, under this run's key prefix, and the one change
# redis-py 8 forces on it: it reads with a 5 s socket timeout, the layer's BZPOPMIN blocks
# for 5 s, and a consumer whose read times out first dies (django/channels_redis#422).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": None}],
            "prefix": f"{os.environ.get('REDIS_KEY_PREFIX', '')}peer",
        },
    }
}

os.environ["DJANGO_SETTINGS_MODULE"] = __name__
from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.thread = int(self.scope["url_route"]["kwargs"]["thread_id"])
        await self.channel_layer.group_add(f"chat_{self.thread}", self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(f"chat_{self.thread}", self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        data = json.loads(text_data)
        if data.get("type") == "message":
            sender = self.scope["user"].get_username()
            event = {"text": data.get("text", ""), "client_id": data.get("client_id")}
            event |= {"type": "chat.message", "sender": sender}
            await self.channel_layer.group_send(f"chat_{self.thread}", event)

    async def chat_message(self, event):
        created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        frame = {"type": "message", "id": None, "thread": self.thread, "created": created}
        frame |= {key: event[key] for key in ("sender", "text", "client_id")}
        await self.send(text_data=json.dumps(frame))


route = path("ws/messages/<int:thread_id>/", ChatConsumer.as_asgi())
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter([route]))),
    }
)
