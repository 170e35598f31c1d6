"""
The WebSocket side of the chat; the wire protocol is in docs/protocol.md.

Two thin consumers: ChatConsumer (``/ws/messages/<thread_id>/``, one chat page)
and ThreadListConsumer (``/ws/messages/``, the thread list). They check access,
join the groups that events.py names, hand what a client sends to the services
and forward what the services announce. Every database call goes through
in_database_thread, never straight from the event loop.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from . import events, frames, selectors, services, session_watch
from .conf import app_settings
from .db_threads import in_database_thread
from .delivery import REORDER_WAIT, LiveOrder
from .fanout import get_fanout
from .frames import NOT_JSON, FrameError, error_frame, rate_limited, seconds
from .models import Thread
from .ratelimit import TokenBucket
from .send_queue import SendQueue
from .userlimits import SocketSlot, get_user_limits

logger = logging.getLogger(__name__)

# Close codes, sent after the handshake so that browsers see them.
# Not signed in: at the handshake, or the session ended while the socket was open.
CLOSE_UNAUTHENTICATED = 4401
# Not a participant, or no such thread: the same code, so that a stranger
# cannot probe which thread ids exist.
CLOSE_FORBIDDEN = 4403
# The user has as many sockets open as PRIVATEMESSAGES_USER_MAX_SOCKETS allows.
CLOSE_TOO_MANY_SOCKETS = 4429

# The most messages one "sync" replays; the answer says "more" when there are
# others, and the client asks again from the last id it got.
SYNC_LIMIT = 1000


class BaseConsumer(AsyncWebsocketConsumer):
    """
    Authentication, the per-connection rate limit, the per-user socket limit,
    the end of the session, JSON frames and error frames, shared by both
    consumers. Subclasses name their frame handlers in ``frame_handlers``
    (frame type -> method name), their groups in ``groups_to_join`` and take
    those groups' events in ``deliver``.
    """

    frame_handlers: dict[str, str] = {"ping": "receive_ping"}

    # No channel of its own: the process's Fanout receives each group's events
    # once and hands them to every local socket of the group (see fanout.py).
    channel_layer_alias = None

    ready = False
    socket_slot: SocketSlot | None = None
    # Names the session the socket was opened with (events.session_digest).
    session_digest: str | None = None
    session_ended = False
    # Registered with session_watch (from connect until the socket ends).
    watching = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        # Everything this socket sends about its groups goes through here, in order.
        self.send_queue = SendQueue(on_error=self.delivery_failed)

    async def __call__(self, scope: dict, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the socket ended, stop delivering to it.
            self.send_queue.close()
            if self.watching:
                session_watch.unwatch(self)
            fanout = get_fanout() if self.joined else None
            for group in self.joined:
                await fanout.leave(group, self)
            if self.socket_slot is not None:
                await get_user_limits().close_socket(self.socket_slot)

    async def dispatch(self, message: dict) -> None:
        # AsyncConsumer.dispatch hops to a worker thread to close stale database
        # connections before every event, which costs more CPU than handling
        # most frames. These consumers touch the database only through
        # in_database_thread, which closes stale connections itself
        # (before and after each call, in the thread that owns them).
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.bucket = TokenBucket(rate=app_settings.WS_RATE, burst=app_settings.WS_BURST)
        if self.user is None or not self.user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        # Read once: the user is a lazy object, dear to ask on every delivery.
        self.user_id = self.user.pk
        if not await self.authorize():
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.socket_slot = await get_user_limits().open_socket(self.user_id)
        if self.socket_slot is None:
            await self.refuse(CLOSE_TOO_MANY_SOCKETS)
            return
        session = self.scope.get("session")
        self.session_digest = events.session_digest(getattr(session, "session_key", None))
        self.watching = True
        await session_watch.watch(self)
        fanout = get_fanout()
        if fanout is not None:
            for group in self.groups_to_join():
                self.joined.append(group)
                await fanout.join(group, self)
        if self.session_ended:  # while joining
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        self.ready = True
        await self.accept()

    def deliver(self, event: dict) -> None:
        """Take an event of one of ``groups_to_join`` (from the Fanout); must not wait."""
        raise NotImplementedError

    def session_event(self, event: dict) -> None:
        """Take a ``session.ended`` event of this user (from session_watch)."""
        if events.session_ends_socket(event, self.session_digest):
            self.end_session()

    def end_session(self) -> None:
        """The socket's session ended: stop at once, and close with 4401."""
        if self.session_ended:
            return
        self.session_ended = True
        if not self.ready:
            return  # still connecting: connect refuses it
        # Frames that arrive from now on are dropped, and nothing more is sent
        # but the close.
        self.ready = False
        self.send_queue.close()
        self._ending = asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED))

    async def in_turn(self, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run *job* in the send queue, after what is queued there, and wait for it."""
        try:
            await self.send_queue.call(job)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this consumer itself is being stopped
            # The send queue was closed under the job (the session ended, a
            # delivery failed): the socket is closing, there is nothing to answer.

    async def delivery_failed(self, error: BaseException) -> None:
        if isinstance(error, OSError):
            # The client went away while a frame was on its way; the server
            # tells this consumer so next (websocket.disconnect).
            return
        # Could not deliver (the database went down during a replay): close,
        # and the client reconnects and resyncs, as after any dropped connection.
        logger.error("Could not deliver to a socket of user %s", self.user_id, exc_info=error)
        with contextlib.suppress(Exception):
            await self.close(code=1011)

    async def refuse(self, code: int) -> None:
        # Closing before accepting fails the handshake, and the browser then
        # sees only code 1006; accepting first lets the client read the reason.
        await self.accept()
        await self.close(code)

    async def authorize(self) -> bool:
        """Return True if the authenticated user may open this socket."""
        return True

    def groups_to_join(self) -> list[str]:
        raise NotImplementedError

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.ready:
            return
        frame = NOT_JSON if text_data is None else frames.parse(text_data)
        client_id = frames.client_id_of(frame)
        try:
            # Every frame costs a token, garbage included: a flood is a flood.
            retry_after = self.bucket.try_take()
            if retry_after:
                raise rate_limited(retry_after)
            if text_data is None:
                raise FrameError("binary_frame", "Двоичные кадры не поддерживаются.")
            if frame is NOT_JSON:
                raise FrameError("invalid_json", "Кадр не является JSON.")
            frame_type = frame.get("type") if isinstance(frame, dict) else None
            handler = self.frame_handlers.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None:
                raise FrameError("unknown_type", "Неизвестный тип кадра.")
            await getattr(self, handler)(frame)
        except services.MessageError as error:
            await self.send_error(error.code, error.message, client_id)
        except FrameError as error:
            await self.send_error(error.code, error.detail, client_id, error.retry_after)

    async def receive_ping(self, frame: dict) -> None:
        # The client's keepalive: an answer proves the connection is alive.
        await self.send_json({"type": "pong"})

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=events.to_json(content))

    async def send_error(
        self,
        code: str,
        detail: str,
        client_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        if not self.ready:
            return  # closing: the session ended meanwhile
        frame = error_frame(code, detail, client_id, retry_after)
        # Escaped if need be: the echoed client_id is whatever the client sent.
        await self.send(text_data=events.to_json_escaped(frame))


class ChatConsumer(BaseConsumer):
    """
    One chat page. After the client's first ``sync`` the socket carries every
    message of the thread after the id the client named, each exactly once and
    in id order: the replay from the database first, then live messages.
    """

    frame_handlers = {
        **BaseConsumer.frame_handlers,
        "message": "receive_message",
        "sync": "receive_sync",
    }

    # Fetches the gap if live events wait for their predecessor too long.
    gap_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order = LiveOrder()  # what goes out, and when a gap is read (delivery.py)

    async def authorize(self) -> bool:
        thread_id = self.scope["url_route"]["kwargs"]["thread_id"]
        self.thread, self.participants = await in_database_thread(self._thread_for_user)(thread_id)
        return self.thread is not None

    def _thread_for_user(self, thread_id: int) -> tuple[Thread | None, dict[int, str]]:
        thread = selectors.thread_for_participant(thread_id=thread_id, user=self.user)
        if thread is None:
            return None, {}
        # Kept for the socket's life: a thread's participants never change, and
        # handing them to message_create saves a query per message.
        return thread, selectors.thread_participants(thread=thread)

    def groups_to_join(self) -> list[str]:
        return [events.thread_group(self.thread.pk)]

    async def receive_message(self, frame: dict) -> None:
        # The socket's one check of the input, on the event loop: bad input
        # costs no thread hop, and message_create trusts what it is given.
        checked = services.check_message(frame.get("text"), frame.get("client_id"))
        # Across all of the user's sockets and processes.
        retry_after = await get_user_limits().take_message(self.user_id)
        if retry_after:
            raise rate_limited(retry_after)
        if not self.ready:
            return  # the session ended meanwhile
        try:
            # Saved, counted and broadcast (after commit) by the service; this
            # socket gets its own message back through the thread's group.
            await in_database_thread(services.message_create)(
                sender=self.user,
                thread=self.thread,
                text=checked.text,
                client_id=checked.client_id,
                participants=self.participants,
            )
        except services.MessageError:
            raise
        except Exception:
            logger.exception("Could not save a message from user %s", self.user.pk)
            raise FrameError(
                "server_error", "Сообщение не сохранено, оно будет отправлено ещё раз."
            ) from None

    async def receive_sync(self, frame: dict) -> None:
        after = frames.sync_after(frame)
        # In the send queue: live messages that arrive during the replay wait
        # behind it, and then go out unless the replay contained them. Not
        # waited for: a sync that the replay budget holds must not hold up
        # the socket's other frames, nor its disconnect (a failure closes the
        # socket, through delivery_failed).
        self.send_queue.push(lambda: self.sync(after))

    async def sync(self, after: int) -> None:
        after = self.order.sync_from(after)
        payloads, more = await in_database_thread(self._stored_after)(after)
        # Charged against the user's replay budget, which may hold the page.
        retry_after = (
            await get_user_limits().pace_replay(self.user_id, len(payloads)) if payloads else 0
        )
        if retry_after:
            # Nothing sent: "ask again", with a hint of when. A client that asks
            # at once is held here again, so it cannot hammer.
            self.order.sync_held()
            await self.send_json(
                {
                    "type": "synced",
                    "last_id": after,
                    "more": True,
                    "retry_after": seconds(retry_after),
                }
            )
            return
        await self.send_replayed(payloads)
        self.order.synced(payloads[-1]["id"] if payloads else after, more=more)
        await self.send_json({"type": "synced", "last_id": self.order.last_id, "more": more})

    def deliver(self, event: dict) -> None:
        if event.get("type") != "chat.message":
            return
        if not self.order.caught_up and not self.send_queue.busy:
            # Not caught up, nor a sync in progress: the next sync replays it.
            return
        self.send_queue.push(lambda: self.chat_message(event))

    async def chat_message(self, event: dict) -> None:
        for ready in self.order.live(event):
            await self.send(text_data=events.message_text_for_user(ready, self.user_id))
        if self.order.waiting == (self.gap_timer is None):
            # Live events began to wait for their predecessor, or none wait now.
            if self.gap_timer is None:
                self.gap_timer = asyncio.get_running_loop().call_later(
                    REORDER_WAIT, self.send_queue.push, self.fill_gap
                )
            else:
                self.gap_timer.cancel()
                self.gap_timer = None

    async def fill_gap(self) -> None:
        self.gap_timer = None
        after = self.order.gap_due()
        while after is not None:
            payloads, more = await in_database_thread(self._stored_after)(after)
            await self.send_replayed(payloads)
            after = self.order.last_id if more else None

    async def send_replayed(self, payloads: list[dict]) -> None:
        for payload in payloads:
            await self.send_json(payload)
            self.order.replayed(payload["id"])

    def _stored_after(self, after: int) -> tuple[list[dict], bool]:
        messages = selectors.messages_after(
            thread_id=self.thread.pk, after_id=after, limit=SYNC_LIMIT + 1
        )
        payloads = [
            events.message_for_user(events.stored_message_payload(message), self.user_id)
            for message in messages[:SYNC_LIMIT]
        ]
        return payloads, len(messages) > SYNC_LIMIT


class ThreadListConsumer(BaseConsumer):
    """The thread list: one update per new message in any of the user's threads."""

    frame_handlers = {**BaseConsumer.frame_handlers, "sync": "receive_sync"}

    def groups_to_join(self) -> list[str]:
        return [events.user_group(self.user.pk)]

    async def receive_sync(self, frame: dict) -> None:
        # In the send queue, so that no update overtakes the list it updates.
        await self.in_turn(self.send_thread_list)

    async def send_thread_list(self) -> None:
        threads = await in_database_thread(self._thread_list)()
        await self.send_json({"type": "threads", "threads": threads})

    def deliver(self, event: dict) -> None:
        if event.get("type") == "thread.update" and self.ready:
            self.send_queue.push(lambda: self.send_json(event["thread"]))

    def _thread_list(self) -> list[dict]:
        return [
            events.thread_summary_payload(summary)
            for summary in selectors.thread_list_for_user(user=self.user)
            if summary.last_message_id is not None
        ]
