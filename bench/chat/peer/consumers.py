"""The Channels tutorial's ChatConsumer, on the chat's wire protocol."""

import json
from datetime import UTC, datetime

from channels.generic.websocket import AsyncWebsocketConsumer


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
