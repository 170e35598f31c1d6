"""
The chat's two WebSocket consumers (docs/protocol.md): ChatConsumer
(``/ws/messages/<thread_id>/``, one chat page) and ThreadListConsumer
(``/ws/messages/``, the thread list). What both share is in base_consumer.py;
the order in which a chat socket delivers messages is delivery.LiveOrder.
They hand what a client sends to the services and forward what the services
announce. Every database call goes through in_database_thread, never
straight from the event loop.
"""

import asyncio
import logging
import time

from django.utils.translation import gettext_lazy as _

from . import bots, events, frames, loop_db, selectors, services, thread_heads, unread
from .base_consumer import (
    CLOSE_FORBIDDEN,
    CLOSE_TOO_MANY_SOCKETS,
    CLOSE_UNAUTHENTICATED,
    BaseConsumer,
)
from .db_threads import in_database_thread
from .delivery import REORDER_WAIT, LiveOrder
from .frames import FrameError, rate_limited, seconds
from .models import Thread, is_valid_id
from .presence import Presence, get_presence, merge, persisted_presence
from .userlimits import UserLimits, get_user_limits

__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_TOO_MANY_SOCKETS",
    "CLOSE_UNAUTHENTICATED",
    "ChatConsumer",
    "ThreadListConsumer",
]

logger = logging.getLogger(__name__)

# The most messages one "sync" replays; the answer says "more" when there are
# others, and the client asks again from the last id it got.
SYNC_LIMIT = 1000

# "typing" frames of one socket closer together than this are dropped: the
# browser sends one every few seconds, and each costs a group send.
TYPING_MIN_INTERVAL = 1.0

# The most partners a thread-list socket reports presence for.
PRESENCE_MAX_USERS = 200

PONG = events.to_json({"type": "pong"})


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
        "read": "receive_read",
        "typing": "receive_typing",
    }

    # Fetches the gap if live events wait for their predecessor too long.
    gap_timer: asyncio.TimerHandle | None = None
    last_typing = 0.0
    # The highest position this socket's "read" frames asked for.
    read_up_to = 0
    # The partner's presence as the database had it when the socket opened.
    stored_presence: dict[int, Presence | None]
    # The thread's id, from the URL (its row: self.thread).
    thread_id: int
    # Whether its messages are saved from the event loop (loop_db.py).
    saves_on_loop = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order = LiveOrder()  # what goes out, and when a gap is read (delivery.py)

    def load(self) -> bool:
        super().load()
        self.thread_id = self.scope["url_route"]["kwargs"]["thread_id"]
        self.thread, self.participants = self._thread_for_user(self.thread_id)
        return self.thread is not None

    def _thread_for_user(self, thread_id: int) -> tuple[Thread | None, dict[int, str]]:
        thread = selectors.thread_for_participant(thread_id=thread_id, user=self.user)
        if thread is None:
            return None, {}
        self.stored_presence = {}
        if self.shows_presence:
            self.stored_presence = {
                user_id: persisted_presence(seen)
                for user_id, seen in selectors.partners_last_seen(
                    thread_id=thread.pk, user_id=self.user_id
                ).items()
            }
        participants = selectors.thread_participants(thread=thread)
        # A thread with a bot saves in a database thread, where the bot's
        # app answers (bots.message_committed).
        self.saves_on_loop = loop_db.saves_on_loop() and bots.bot_among(participants) is None
        # Kept for the socket's life: a thread's participants never change, and
        # handing them to message_create saves a query per message.
        return thread, participants

    def groups_to_join(self) -> list[str]:
        return [events.thread_group(self.thread.pk)]

    async def receive_message(self, frame: dict) -> None:
        # The socket's one check of the input, on the event loop: bad input
        # costs no thread hop, and message_create trusts what it is given.
        checked = services.check_message(frame.get("text"), frame.get("client_id"))
        # A tap of a bot's button: the text is the button's own title, read
        # with the button from the database (the payload never comes from here).
        button = frame.get("button")
        tap = None if button is None else services.check_button_reference(button)
        limits = get_user_limits()
        # A user refused a moment ago is refused here, with no hop.
        retry_after = limits.message_refused_for(self.user_id)
        if retry_after:
            raise rate_limited(retry_after)
        try:
            if self.saves_on_loop and tap is None:
                retry_after = await self._save_message_on_loop(limits, checked)
            else:
                retry_after = await in_database_thread(self._save_message)(limits, checked, tap)
        except services.MessageError:
            raise
        except Exception:
            logger.exception("Could not save a message from user %s", self.user.pk)
            raise FrameError(
                "server_error", _("Сообщение не сохранено, оно будет отправлено ещё раз.")
            ) from None
        if retry_after:
            raise rate_limited(retry_after)

    async def _save_message_on_loop(
        self, limits: UserLimits, checked: services.CleanMessage
    ) -> float:
        """_save_message on the event loop (loop_db.py): no database thread."""
        retry_after = await limits.take_message(self.user_id)
        if retry_after or not self.ready:
            return retry_after
        await services.message_create_on_loop(
            sender=self.user,
            thread=self.thread,
            text=checked.text,
            client_id=checked.client_id,
            participants=self.participants,
            redis_client=limits.redis_client(),
            # The budget of the user's next message, in this one's publish.
            also_in_publish=limits.take_ahead(self.user_id),
        )
        return 0.0

    def _save_message(
        self, limits: UserLimits, checked: services.CleanMessage, tap: tuple[int, int] | None
    ) -> float:
        """
        In a database thread: count the message against the user's limit
        (across processes), then save it; return 0, or the seconds to wait if
        it was refused. One hop from the event loop for both, the limit's
        Redis call made here with a synchronous client.
        """
        retry_after = limits.take_message_now(self.user_id)
        if retry_after or not self.ready:
            return retry_after  # refused, or the session ended meanwhile
        # Saved, counted and broadcast (after commit) by the service; this
        # socket gets its own message back through the thread's group.
        if tap is not None:
            services.message_create_from_button(
                sender=self.user,
                thread=self.thread,
                message_id=tap[0],
                index=tap[1],
                client_id=checked.client_id,
                participants=self.participants,
            )
        else:
            services.message_create(
                sender=self.user,
                thread=self.thread,
                text=checked.text,
                client_id=checked.client_id,
                participants=self.participants,
            )
        return 0.0

    async def receive_sync(self, frame: dict) -> None:
        after = frames.sync_after(frame)
        await self.heartbeat()
        # In the send queue: live messages that arrive during the replay wait
        # behind it, and then go out unless the replay contained them. Not
        # waited for: a sync that the replay budget holds must not hold up
        # the socket's other frames, nor its disconnect (a failure closes the
        # socket, through delivery_failed).
        self.send_queue.push(lambda: self.sync(after))

    async def receive_read(self, frame: dict) -> None:
        last_id = frame.get("last_id")
        if not is_valid_id(last_id):
            raise FrameError("invalid_read", _("last_id должен быть целым числом больше 0."))
        if last_id <= self.read_up_to:
            return  # this socket moved the position that far already: no transaction
        self.read_up_to = last_id
        # Announced (after commit) to every socket of the user and, with
        # receipts on, to the thread's: nothing to answer here.
        await in_database_thread(unread.thread_mark_read)(
            user_id=self.user_id, thread_id=self.thread.pk, up_to=last_id
        )

    async def receive_typing(self, frame: dict) -> None:
        now = time.monotonic()
        if now - self.last_typing < TYPING_MIN_INTERVAL:
            return
        self.last_typing = now
        username = self.participants.get(self.user_id, "")
        event = events.typing_event(
            thread_id=self.thread.pk, user_id=self.user_id, username=username
        )
        await events.send_to_group(events.thread_group(self.thread.pk), event)

    async def sync(self, after: int) -> None:
        # The read state goes with the socket's first sync and with any that
        # replays messages; a later sync that finds nothing new does not read
        # it (reads and counts come live, in "unread", "read" and the message
        # frames themselves).
        first = self.order.last_id is None
        after = self.order.sync_from(after)
        redis_client = get_user_limits().redis_client()
        if not first and self.order.caught_up and not self.order.waiting:
            # A later sync (an older client's heartbeat): if the thread's newest
            # message is one this socket delivered, nothing can be missing, and
            # the database is not asked.
            # The head is read with the partner's presence when the socket is
            # sent it: one round trip for both.
            live = None
            if self.presence_asked():
                live, value = await get_presence().lookup_and_get(
                    self.partners(),
                    touch=self.presence_touch(),
                    key=thread_heads.head_key(self.thread.pk),
                    keep_for=thread_heads.HEAD_TTL,
                )
                head = thread_heads.head_value(value)
            else:
                head = await thread_heads.head(redis_client, self.thread.pk)
            if head is not None and head <= self.order.last_id:
                await self.send_json(
                    {"type": "synced", "last_id": self.order.last_id, "more": False}
                )
                if live is not None:
                    await self.send_json(self.noted(self.presence_frame(live)))
                return
        if await self.replay(after, first) and self.presence_asked():
            await self.send_presence()

    async def catch_up(self, live: dict[int, Presence] | None) -> None:
        """
        A keepalive visit found a message newer than this socket delivered (a
        lost live event), or could not tell: replay from the database, and
        send the presence the visit read if it is news.
        """
        if self.order.last_id is None:
            return
        replayed = await self.replay(self.order.last_id, False)
        if replayed and live is not None and self.presence_asked():
            news = self.presence_news(self.presence_frame(live))
            if news is not None:
                await self.send_json(news)

    async def replay(self, after: int, first: bool) -> bool:
        """
        Send what the database has after *after*, then ``synced``; return
        False if the user's replay budget held it (``synced`` says when to
        ask again).
        """
        redis_client = get_user_limits().redis_client()
        payloads, more, reads, newest = await in_database_thread(self._stored_after_with_reads)(
            after, first
        )
        if newest is not None:
            await thread_heads.raise_head_async(redis_client, self.thread.pk, newest)
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
            return False
        await self.send_replayed(payloads)
        self.order.synced(payloads[-1]["id"] if payloads else after, more=more)
        synced = {"type": "synced", "last_id": self.order.last_id, "more": more}
        if reads is not None:
            synced["read"] = reads.as_frame()
        await self.send_json(synced)
        return True

    async def send_presence(self) -> None:
        live = await get_presence().lookup(self.partners(), touch=self.presence_touch())
        await self.send_json(self.noted(self.presence_frame(live)))

    def partners(self) -> list[int]:
        return [user_id for user_id in self.participants if user_id != self.user_id]

    presence_partners = partners

    def keepalive_needs(self) -> tuple[tuple[int, str] | None, list[int], str | None]:
        touch, partners, _ = super().keepalive_needs()
        return touch, partners, thread_heads.head_key(self.thread.pk)

    def answer_keepalive(
        self, live: dict[int, Presence] | None, value: bytes | None, reached: bool
    ) -> None:
        if not self.ready or self.order.last_id is None or self.send_queue.busy:
            return  # its first sync, or what it is sending now, answers for it
        head = thread_heads.head_value(value)
        if reached and (head is None or head > self.order.last_id or not self.order.caught_up):
            # A live message may have been lost (or Redis cannot say).
            self.send_queue.push(lambda: self.catch_up(live))
            return
        synced = {"type": "synced", "last_id": self.order.last_id, "more": False}
        texts = [events.to_json(synced)]
        news = None
        if live is not None and self.presence_asked():
            news = self.presence_news(self.presence_frame(live))
        if news is not None:
            texts.append(events.to_json(news))
        self.send_frames(texts)

    def presence_frame(self, live: dict[int, Presence]) -> dict:
        """The ``presence`` frame of the partners' *live* presence, or their stored one."""
        users = {}
        for user_id in self.partners():
            known = merge(live.get(user_id), self.stored_presence.get(user_id))
            if known is not None:
                users[str(user_id)] = known.as_frame()
        return {"type": "presence", "users": users}

    def deliver(self, event: dict) -> None:
        kind = event.get("type")
        if kind == events.TYPING:
            # Never waits behind anything, and a busy socket goes without.
            if event["user_id"] != self.user_id and self.ready and not self.send_queue.busy:
                self.send_queue.push(lambda: self.send(text_data=event["text"]))
            return
        if kind == events.READ:
            frame = event["frame"]
            if frame["user_id"] != self.user_id and self.receipts and self.ready:
                self.send_queue.push(lambda: self.send_json(frame))
            return
        if kind != "chat.message":
            return
        if not self.order.caught_up and not self.send_queue.busy:
            # Not caught up, nor a sync in progress: the next sync replays it.
            return
        if self.sends_at_once():
            # The usual case, for every open tab of the thread: no job, no coroutine.
            for ready in self.order.live(event):
                self.server.send_text_now(events.message_text_for_user(ready, self.user_id))
            self.watch_for_gap()
            return
        self.send_queue.push(lambda: self.chat_message(event))

    async def chat_message(self, event: dict) -> None:
        for ready in self.order.live(event):
            await self.send(text_data=events.message_text_for_user(ready, self.user_id))
        self.watch_for_gap()

    def watch_for_gap(self) -> None:
        """After live messages: time the wait of those held for a predecessor."""
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

    def _stored_after_with_reads(
        self, after: int, first: bool
    ) -> tuple[list[dict], bool, unread.ThreadReads | None, int | None]:
        """The sync's page, the read state (first sync, or news), and the thread's newest id."""
        payloads, more = self._stored_after(after)
        reads = None
        if first or payloads:
            reads = unread.thread_reads(
                thread_id=self.thread.pk, user_id=self.user_id, receipts=self.receipts
            )
        if more:
            newest = None  # not known without reading further
        elif payloads:
            newest = payloads[-1]["id"]
        else:
            newest = selectors.thread_newest_id(thread_id=self.thread.pk)
        return payloads, more, reads, newest

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
    """
    The thread list: one update per new message in any of the user's threads
    (user_events hands them over: this socket joins no group of its own).
    """

    frame_handlers = {**BaseConsumer.frame_handlers, "sync": "receive_sync"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Partners of the threads this socket listed or announced (presence).
        self.partner_ids: dict[int, None] = {}

    async def receive_sync(self, frame: dict) -> None:
        # In the send queue, so that no update overtakes the list it updates.
        await self.in_turn(self.send_thread_list)
        if self.presence_asked():
            await self.in_turn(self.send_presence)

    async def receive_ping(self, frame: dict) -> None:
        await super().receive_ping(frame)
        if self.presence_asked():
            await self.in_turn(self.send_presence)

    async def send_thread_list(self) -> None:
        frame = await in_database_thread(self._thread_list)()
        for thread in frame["threads"]:
            self.add_partner(thread["partner_id"])
        await self.send_json(frame)

    async def send_presence(self) -> None:
        found = await get_presence().lookup(list(self.partner_ids), touch=self.presence_touch())
        if self.partner_ids:
            await self.send_json(self.noted(self.presence_frame(found)))

    def presence_partners(self) -> list[int]:
        return list(self.partner_ids)

    def presence_frame(self, found: dict[int, Presence]) -> dict:
        users = {str(user_id): known.as_frame() for user_id, known in found.items()}
        return {"type": "presence", "users": users}

    def answer_keepalive(
        self, live: dict[int, Presence] | None, value: bytes | None, reached: bool
    ) -> None:
        if not self.ready:
            return
        texts = [PONG]
        if live is not None and self.presence_asked() and self.partner_ids:
            found = {user_id: live[user_id] for user_id in self.partner_ids if user_id in live}
            news = self.presence_news(self.presence_frame(found))
            if news is not None:
                texts.append(events.to_json(news))
        self.send_frames(texts)

    def thread_update(self, event: dict) -> None:
        self.add_partner(event["own"].get("partner_id"))
        super().thread_update(event)

    def add_partner(self, user_id: int | None) -> None:
        if user_id is not None and len(self.partner_ids) < PRESENCE_MAX_USERS:
            self.partner_ids[user_id] = None

    def _thread_list(self) -> dict:
        page = selectors.thread_list_for_user(user=self.user)
        total, version = unread.unread_total(self.user_id)
        return {
            "type": "threads",
            "threads": [
                events.thread_summary_payload(summary)
                for summary in page.threads
                if summary.last_message_id is not None
            ],
            "more": page.next_cursor is not None,
            "unread_total": total,
            "version": version,
        }
