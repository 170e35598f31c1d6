"""WebSocket routes of the chat (served under ``/ws/``; see myproject/asgi.py)."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/messages/", consumers.ThreadListConsumer.as_asgi()),
    path("ws/messages/<int:thread_id>/", consumers.ChatConsumer.as_asgi()),
]
