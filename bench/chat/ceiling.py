"""
The ceiling: a plain asyncio ``websockets`` relay of the chat's wire protocol, with no Django,
authentication, persistence or broker. A ``{"type": "message"}`` frame on
``/ws/messages/<thread>/`` is stamped and sent to every socket of that path, the sender's too.
"""

import asyncio
import itertools
import json
import signal
import sys
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = {}
ids = itertools.count(1)


async def relay(ws: ServerConnection) -> None:
    parts = ws.request.path.strip("/").split("/")
    if len(parts) != 3 or parts[:2] != ["ws", "messages"] or not parts[2].isdigit():
        return await ws.close(4404, "not found")
    room = rooms.setdefault(ws.request.path, set())
    room.add(ws)
    try:
        async for raw in ws:
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "message":
                created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                frame = {"type": "message", "id": next(ids), "thread": int(parts[2])}
                frame |= {"sender": "", "text": data.get("text", ""), "created": created}
                broadcast(room, json.dumps(frame | {"client_id": data.get("client_id")}))
    finally:
        room.discard(ws)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    options = {"compression": None, "ping_interval": None, "max_queue": None, "backlog": 4096}
    async with serve(relay, "127.0.0.1", port, **options):
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
