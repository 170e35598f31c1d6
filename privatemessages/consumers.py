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
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import events, selectors, services, session_watch
from .database import in_database_thread
from .fanout import get_fanout
from .models import Thread
from .outbox import Outbox
from .ratelimit import TokenBucket
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

# How long a live message that came before its predecessor waits for it
# before the gap is read from the database, in seconds.
REORDER_WAIT = 0.05

# The largest id a bigint column holds.
_MAX_ID = 2**63 - 1

_NOT_JSON = object()


class FrameError(Exception):
    """A client frame that is refused; ``code`` is stable, ``detail`` is for people."""

    def __init__(self, code: str, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


def rate_limited(retry_after: float | None) -> FrameError:
    return FrameError(
        "rate_limited", "Слишком много сообщений подряд, подождите.", retry_after=retry_after
    )


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
        self.outbox = Outbox(on_error=self.delivery_failed)

    async def __call__(self, scope: dict, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the socket ended, stop delivering to it.
            self.outbox.close()
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
        self.bucket = TokenBucket(
            rate=settings.PRIVATEMESSAGES_WS_RATE, burst=settings.PRIVATEMESSAGES_WS_BURST
        )
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
        self.outbox.close()
        self._ending = asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED))

    async def in_turn(self, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run *job* in the outbox, after what is queued there, and wait for it."""
        try:
            await self.outbox.call(job)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this consumer itself is being stopped
            # The outbox was closed under the job (the session ended, a
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
        frame = _NOT_JSON if text_data is None else _loads(text_data)
        client_id = frame.get("client_id") if isinstance(frame, dict) else None
        if not isinstance(client_id, str):
            client_id = None
        try:
            # Every frame costs a token, garbage included: a flood is a flood.
            retry_after = self.bucket.try_take()
            if retry_after:
                raise rate_limited(retry_after)
            if text_data is None:
                raise FrameError("binary_frame", "Двоичные кадры не поддерживаются.")
            if frame is _NOT_JSON:
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
        frame = {"type": "error", "code": code, "detail": detail}
        if client_id is not None:
            frame["client_id"] = client_id
        if retry_after:
            frame["retry_after"] = _seconds(retry_after)
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

    # The id of the newest message this socket has delivered (or the client
    # said it has); None until the client's first sync.
    last_id: int | None = None
    # Whether the last sync answered "more": false. Live messages go out only
    # then; during a catch-up in pages the next sync replays them, and a live
    # one would open a gap that fill_gap would read past the replay budget.
    caught_up = False
    # Live events that came before their predecessor, by the predecessor's id,
    # and the timer that fetches the gap if it does not come (chat_message).
    early: dict[int, dict]
    gap_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.early = {}

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
        # Check on the event loop first: bad input costs no thread hop.
        text = services.clean_message_text(frame.get("text"))
        client_id = services.clean_client_id(frame.get("client_id"))
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
                text=text,
                client_id=client_id,
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
        after = frame.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= _MAX_ID:
            raise FrameError("invalid_sync", "after должен быть целым числом не меньше 0.")
        # In the outbox: live messages that arrive during the replay wait
        # behind it, and then go out unless the replay contained them. Not
        # waited for: a sync that the replay budget holds must not hold up
        # the socket's other frames, nor its disconnect (a failure closes the
        # socket, through delivery_failed).
        self.outbox.push(lambda: self.sync(after))

    async def sync(self, after: int) -> None:
        if self.last_id is not None:
            # What this socket already delivered is on its way to the client.
            after = max(after, self.last_id)
        payloads, more = await in_database_thread(self._stored_after)(after)
        # Charged against the user's replay budget, which may hold the page.
        retry_after = (
            await get_user_limits().pace_replay(self.user_id, len(payloads)) if payloads else 0
        )
        if retry_after:
            # Nothing sent: "ask again", with a hint of when. A client that asks
            # at once is held here again, so it cannot hammer.
            self.caught_up = False
            await self.send_json(
                {
                    "type": "synced",
                    "last_id": after,
                    "more": True,
                    "retry_after": _seconds(retry_after),
                }
            )
            return
        await self.send_replayed(payloads)
        self.last_id = payloads[-1]["id"] if payloads else after
        self.caught_up = not more
        await self.send_json({"type": "synced", "last_id": self.last_id, "more": more})

    def deliver(self, event: dict) -> None:
        if event.get("type") != "chat.message":
            return
        if not self.caught_up and not self.outbox.busy:
            # Not caught up, nor a sync in progress: the next sync replays it.
            return
        self.outbox.push(lambda: self.chat_message(event))

    async def chat_message(self, event: dict) -> None:
        if not self.caught_up:
            # The next sync replays it from the database.
            return
        message = event["message"]
        if message["id"] <= self.last_id:
            return
        prev_id = event.get("prev_id")
        if prev_id is not None and prev_id > self.last_id:
            # Its predecessor has not come. Usually it was announced at the
            # same moment by another process or database thread and is a few
            # milliseconds behind: wait for it a little, then fetch the gap
            # from the database (a live event can also be lost for good).
            self.early[prev_id] = event
            if self.gap_timer is None:
                self.gap_timer = asyncio.get_running_loop().call_later(
                    REORDER_WAIT, self.outbox.push, self.fill_gap
                )
            return
        await self.send_live(event)
        # Those that came before this one and waited for it.
        while (waiting := self.early.pop(self.last_id, None)) is not None:
            await self.send_live(waiting)
        if not self.early and self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None

    async def send_live(self, event: dict) -> None:
        self.last_id = event["message"]["id"]
        await self.send(text_data=events.message_text_for_user(event, self.user_id))

    async def fill_gap(self) -> None:
        self.gap_timer = None
        waiting, self.early = self.early, {}
        if any(event["message"]["id"] > self.last_id for event in waiting.values()):
            more = True
            while more:
                _payloads, more = await self.replay(self.last_id)

    async def replay(self, after: int) -> tuple[list[dict], bool]:
        """Send up to SYNC_LIMIT stored messages after *after*; return them and "more"."""
        payloads, more = await in_database_thread(self._stored_after)(after)
        await self.send_replayed(payloads)
        return payloads, more

    async def send_replayed(self, payloads: list[dict]) -> None:
        for payload in payloads:
            await self.send_json(payload)
            self.last_id = payload["id"]

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
        # In the outbox, so that no update overtakes the list it updates.
        await self.in_turn(self.send_thread_list)

    async def send_thread_list(self) -> None:
        threads = await in_database_thread(self._thread_list)()
        await self.send_json({"type": "threads", "threads": threads})

    def deliver(self, event: dict) -> None:
        if event.get("type") == "thread.update" and self.ready:
            self.outbox.push(lambda: self.send_json(event["thread"]))

    def _thread_list(self) -> list[dict]:
        return [
            events.thread_summary_payload(summary)
            for summary in selectors.thread_list_for_user(user=self.user)
            if summary.last_message_id is not None
        ]


def _seconds(delay: float) -> float:
    """A delay as the protocol gives it: seconds, to the millisecond, never 0."""
    return max(0.001, round(delay, 3))


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return _NOT_JSON
