"""
What both chat sockets share (docs/protocol.md): authentication, the
per-connection rate limit, the per-user socket limit, the end of the session,
presence, the user's own groups and settings, JSON frames and error frames.
The two consumers are in consumers.py.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from . import events, frames, services, user_events
from .conf import app_settings
from .db_threads import in_database_thread
from .fanout import get_fanout
from .frames import NOT_JSON, FrameError, error_frame, rate_limited
from .keepalive import get_keepalive
from .languages import socket_language
from .presence import Presence, get_presence, last_seen_persist
from .profiles import chat_settings
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


class BaseConsumer(AsyncWebsocketConsumer):
    """
    Authentication, the per-connection rate limit, the per-user socket limit,
    the end of the session, JSON frames and error frames, shared by both
    consumers. Subclasses name their frame handlers in ``frame_handlers``
    (frame type -> method name), their groups in ``groups_to_join`` and take
    those groups' events in ``deliver``.
    """

    frame_handlers: dict[str, str] = {"ping": "receive_ping", "activity": "receive_activity"}

    # No channel of its own: the process's Fanout receives each group's events
    # once and hands them to every local socket of the group (see fanout.py).
    channel_layer_alias = None

    ready = False
    socket_slot: SocketSlot | None = None
    # Names the session the socket was opened with (events.session_digest).
    session_digest: str | None = None
    session_ended = False
    # Registered with user_events (from connect until the socket ends).
    watching = False
    # The thread a chat socket shows; None for the thread list (user_events).
    thread_id: int | None = None
    # The user's settings, read when the socket opens (a change applies to
    # sockets opened after it).
    receipts = True
    shows_presence = True
    # Whether the tab is visible (the client's "activity" frames): only then
    # does the keepalive (or a heartbeat) keep the user online.
    active = True
    # Whether the client sent an "activity" frame: a client that knows
    # presence, and is sent "presence" frames (older clients are not).
    wants_presence = False

    # See serve().
    server: Any = None
    # The keepalive's slice this socket is in (keepalive.py), once it is open.
    keepalive_slice: int | None = None
    # What this socket's presence frames showed last, per user id (presence_news).
    presence_shown: dict[str, Any] | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        # Everything this socket sends about its groups goes through here, in order.
        self.send_queue = SendQueue(on_error=self.delivery_failed)

    async def __call__(self, scope: dict, receive, send) -> None:
        try:
            await self.serve(scope, receive, send)
        finally:
            # However the socket ended, stop delivering to it.
            self.send_queue.close()
            if self.keepalive_slice is not None:
                get_keepalive().leave(self)
            if self.watching:
                user_events.unwatch(self)
            fanout = get_fanout() if self.joined else None
            for group in self.joined:
                await fanout.leave(group, self)
            if self.socket_slot is not None:
                await get_user_limits().close_socket(self.socket_slot)
                if self.shows_presence:
                    await self.presence_left()

    async def serve(self, scope: dict, receive, send) -> None:
        """
        AsyncConsumer.__call__ for a consumer without a channel of its own: it
        would read the socket in a task of its own and wait for that task with
        asyncio.wait, which costs every idle socket a second task and its
        waiters, and every frame a task switch; this one reads in the socket's
        own task.
        """
        self.scope, self.channel_layer, self.base_send = scope, None, send
        # The server's protocol, when it can send a text frame without a
        # coroutine (deploy/ws_protocol.py; not under runserver or the tests'
        # communicators, which send through ASGI).
        server = getattr(send, "__self__", None)
        if hasattr(server, "send_text_now"):
            self.server = server
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass  # the socket ended

    async def dispatch(self, message: dict) -> None:
        # AsyncConsumer.dispatch hops to a worker thread to close stale database
        # connections before every event, which costs more CPU than handling
        # most frames. These consumers touch the database only through
        # in_database_thread, which closes stale connections itself
        # (before and after each call, in the thread that owns them), and
        # through the loop's own pool (loop_db.py), which needs no closing.
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.bucket = TokenBucket(rate=app_settings.WS_RATE, burst=app_settings.WS_BURST)
        if self.user is None or not self.user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        # Read once: every delivery compares it.
        self.user_id = self.user.pk
        if not await self.authorize():
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.socket_slot = await get_user_limits().open_socket(self.user_id)
        if self.socket_slot is None:
            await self.refuse(CLOSE_TOO_MANY_SOCKETS)
            return
        if self.shows_presence:
            await get_presence().touch(self.user_id, self.socket_slot.name)
        session = self.scope.get("session")
        self.session_digest = events.session_digest(getattr(session, "session_key", None))
        self.watching = True
        await user_events.watch(self)
        fanout = get_fanout()
        if fanout is not None:
            for group in self.groups_to_join():
                self.joined.append(group)
                await fanout.join(group, self)
        if self.session_ended:  # while joining
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        self.ready = True
        keepalive = get_keepalive()
        if self.server is not None and keepalive.every > 0:
            # A dead peer is found by the keepalive's pings (keepalive()), not
            # by the server's timed ones, which cost an idle socket more.
            self.server.claim_pings()
        await self.accept()
        keepalive.join(self)

    def deliver(self, event: dict) -> None:
        """Take an event of one of ``groups_to_join`` (from the Fanout); must not wait."""
        raise NotImplementedError

    def user_event(self, event: dict) -> None:
        """Take an event addressed to this socket's user (from user_events); must not wait."""
        kind = event.get("type")
        if kind == events.SESSION_ENDED:
            if events.session_ends_socket(event, self.session_digest):
                self.end_session()
        elif kind == events.SETTINGS_CHANGED:
            if self.ready:
                self.send_queue.push(self.reload_settings)
        elif kind == events.THREAD_UPDATE:
            self.thread_update(event)
        elif kind == events.UNREAD and self.ready:
            self.send_queue.push(lambda: self.send_json(event["frame"]))

    def sends_at_once(self) -> bool:
        """
        Whether a frame can go out now, in order, without a coroutine: nothing
        of this socket is queued and the server can write to it at once.
        """
        return (
            self.server is not None
            and not self.send_queue.busy
            and not self.send_queue.closed
            and self.server.can_send_now()
        )

    def send_frames(self, texts: list[str]) -> None:
        """Send the frames *texts* after what is queued; at once if nothing is. Never waits."""
        if self.sends_at_once():
            for text in texts:
                self.server.send_text_now(text)
        else:
            self.send_queue.push(lambda: self._send_texts(texts))

    async def _send_texts(self, texts: list[str]) -> None:
        for text in texts:
            await self.send(text_data=text)

    def keepalive_needs(self) -> tuple[tuple[int, str] | None, list[int], str | None]:
        """
        What a keepalive visit refreshes and reads (keepalive.py): this socket's
        presence entry while its tab is active, the users whose presence it is
        sent, and a Redis key whose value keepalive() is given (None: none).
        """
        touch = self.presence_touch() if self.shows_presence else None
        return touch, self.presence_partners() if self.presence_asked() else [], None

    def keepalive(
        self, live: dict[int, Presence] | None, value: bytes | None, reached: bool
    ) -> None:
        """
        A keepalive visit (keepalive.Visited.keepalive): a WebSocket ping, if
        this socket's pings are the keepalive's (connect), then the
        subclass's answer_keepalive, the ping leaving in the same write as its
        frames. Never waits.
        """
        server = self.server
        pinging = server is not None and server.pings_claimed
        if pinging and not server.ping():
            return  # closed: its last ping went unanswered, or it was closing
        self.answer_keepalive(live, value, reached)
        if pinging:
            server.flush()  # the ping, if no frame took it along

    def answer_keepalive(
        self, live: dict[int, Presence] | None, value: bytes | None, reached: bool
    ) -> None:
        """The frames a keepalive visit sends (see keepalive()). Never waits."""
        raise NotImplementedError

    def noted(self, frame: dict) -> dict:
        """The ``presence`` *frame*, sent whole, its news noted (presence_news)."""
        self.presence_news(frame)
        return frame

    def presence_news(self, frame: dict) -> dict | None:
        """
        Note what the ``presence`` *frame* shows; return a frame of only what
        changed since this socket's earlier ones (null for a user no longer
        shown), or None if nothing did: a keepalive sends no news twice.
        """
        shown = self.presence_shown
        if shown is None:
            shown = self.presence_shown = {}
        users = frame["users"]
        changed = {user: None for user in shown if user not in users}
        for user in changed:
            del shown[user]
        for user, info in users.items():
            # What a client shows: "online", or when the user was last seen.
            showing = True if info["online"] else info["last_seen"]
            if user not in shown or shown[user] != showing:
                shown[user] = showing
                changed[user] = info
        return {"type": "presence", "users": changed} if changed else None

    def presence_partners(self) -> list[int]:
        """The users whose presence this socket is sent."""
        return []

    def thread_update(self, event: dict) -> None:
        """
        A new message in one of the user's threads: the ``thread.update``
        event, as this user gets it (its ``thread`` frame is built here, only
        for a socket that sends it).
        """
        if self.ready:
            frame = events.thread_frame(event)
            self.send_queue.push(lambda: self.send_json(frame))

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
        """Return True if the authenticated user may open this socket (one database hop)."""
        return await in_database_thread(self.load)()

    def load(self) -> bool:
        """In a database thread: read what the socket needs; return False to refuse it."""
        self.receipts, self.shows_presence = chat_settings(self.user_id)
        return True

    def groups_to_join(self) -> list[str]:
        """The groups whose events this socket takes in ``deliver`` (besides its user's)."""
        return []

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
                raise FrameError("binary_frame", _("Двоичные кадры не поддерживаются."))
            if frame is NOT_JSON:
                raise FrameError("invalid_json", _("Кадр не является JSON."))
            frame_type = frame.get("type") if isinstance(frame, dict) else None
            handler = self.frame_handlers.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None:
                raise FrameError("unknown_type", _("Неизвестный тип кадра."))
            await getattr(self, handler)(frame)
        except services.MessageError as error:
            await self.send_error(error.code, error.message, client_id)
        except FrameError as error:
            await self.send_error(error.code, error.detail, client_id, error.retry_after)

    async def reload_settings(self) -> None:
        """The user changed their settings: apply them to this socket."""
        showed = self.shows_presence
        self.receipts, self.shows_presence = await in_database_thread(chat_settings)(self.user_id)
        if showed and not self.shows_presence:
            await get_presence().leave(self.user_id, self.socket_slot.name)
        elif self.shows_presence and not showed and self.active:
            await get_presence().touch(self.user_id, self.socket_slot.name)

    async def receive_ping(self, frame: dict) -> None:
        # The client's keepalive: an answer proves the connection is alive.
        await self.heartbeat()
        await self.send_json({"type": "pong"})

    async def heartbeat(self) -> None:
        """A keepalive came: an active tab stays online."""
        if self.presence_asked():
            return  # the presence frame that follows touches too, in its round trip
        if self.shows_presence and self.active:
            await get_presence().touch(self.user_id, self.socket_slot.name)

    def presence_asked(self) -> bool:
        """Whether this socket is sent presence frames (a client that knows them)."""
        return self.shows_presence and self.wants_presence

    def presence_touch(self) -> tuple[int, str] | None:
        """This socket as a presence lookup touches it: only while its tab is active."""
        return (self.user_id, self.socket_slot.name) if self.active else None

    async def receive_activity(self, frame: dict) -> None:
        active = frame.get("active")
        if not isinstance(active, bool):
            raise FrameError("invalid_activity", _("active должен быть true или false."))
        self.wants_presence = True
        if active == self.active or not self.shows_presence:
            self.active = active
            return
        self.active = active
        if active:
            await get_presence().touch(self.user_id, self.socket_slot.name)
        else:
            await self.presence_left()

    async def presence_left(self) -> None:
        """This socket stops counting for presence; keep when, in the database too."""
        presence = get_presence()
        seen = await presence.leave(self.user_id, self.socket_slot.name)
        if seen is not None and presence.should_persist(self.user_id):
            try:
                await in_database_thread(last_seen_persist)(user_id=self.user_id, seen=seen)
            except Exception:
                logger.warning("Could not save when user %s was last seen", self.user_id)

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=events.to_json(content))

    async def send_error(
        self,
        code: str,
        detail: str | Promise,
        client_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        if not self.ready:
            return  # closing: the session ended meanwhile
        # Translated here, on the error path only: Channels activates no
        # language for a socket, and activating one around every frame would
        # cost every frame.
        with translation.override(socket_language(self.scope)):
            detail = str(detail)
        frame = error_frame(code, detail, client_id, retry_after)
        # Escaped if need be: the echoed client_id is whatever the client sent.
        await self.send(text_data=events.to_json_escaped(frame))
