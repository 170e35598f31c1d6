"""
The ceiling: a plain asyncio ``websockets`` relay speaking the chat's wire
protocol, with no Django, no authentication, no persistence and no broker.

Every socket on ``/ws/messages/<thread>/`` joins that path's room; a
``{"type": "message", "text", "client_id"}`` frame is stamped and broadcast to
the whole room (the sender's own sockets included, as the real chat does).

    python -m bench.chat.ceiling 8200
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
    path = ws.request.path
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[:2] != ["ws", "messages"] or not parts[2].isdigit():
        await ws.close(4404, "not found")
        return
    thread = int(parts[2])
    room = rooms.setdefault(path, set())
    room.add(ws)
    try:
        async for raw in ws:
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(data, dict) or data.get("type") != "message":
                continue
            frame = json.dumps(
                {
                    "type": "message",
                    "id": next(ids),
                    "thread": thread,
                    "sender": "",
                    "text": data.get("text", ""),
                    "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "client_id": data.get("client_id"),
                }
            )
            broadcast(room, frame)
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(path, None)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        relay,
        "127.0.0.1",
        port,
        compression=None,
        ping_interval=None,
        max_queue=None,
        backlog=4096,
    ):
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
