"""
One socket's outgoing work, in order, without making anyone wait for it.
"""

import asyncio
import contextvars
import logging
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class SendQueue:
    """
    Run one socket's jobs (coroutine functions) one at a time, in the order
    they were pushed, without making the pusher wait. After a job fails, the
    queue runs nothing more and hands the error to *on_error*.

    A job runs at once, inside ``push``, up to its first real wait; most
    never wait (sending a frame normally completes without suspending), so
    delivering costs no task switch. A job that does wait (a replay from the
    database, a client that reads slowly) continues in a task of this queue,
    and the jobs pushed meanwhile queue behind it: one slow socket delays only
    itself, and never gets its own frames out of order.
    """

    # A queue per socket, most of them idle: no instance dictionary.
    __slots__ = ("_error_task", "_on_error", "_queue", "_started", "_task", "closed")

    def __init__(self, on_error: Callable[[BaseException], Awaitable[None]] | None = None) -> None:
        # Made when a job first has to wait behind another: most sockets never need it.
        self._queue: deque[Callable[[], Coroutine[Any, Any, Any]]] | None = None
        self._task: asyncio.Task | None = None
        # The job the task must finish, until the task starts.
        self._started: tuple[Coroutine[Any, Any, Any], Any] | None = None
        self._on_error = on_error
        self.closed = False

    @property
    def busy(self) -> bool:
        """Whether a job is waiting or queued."""
        return self._task is not None

    def push(self, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run *job* after every job pushed before it."""
        if self.closed:
            return
        if self._task is not None:
            if self._queue is None:
                self._queue = deque()
            self._queue.append(job)
            return
        # A context of its own, as a task would have: the job may set context
        # variables (asgiref does, around database calls) and finish in a task.
        context = contextvars.copy_context()
        coro = job()
        try:
            awaited = context.run(coro.send, None)
        except StopIteration:
            return
        except (Exception, asyncio.CancelledError) as error:
            # The pusher (a group's reader) goes on with the other sockets.
            self._failed(error)
            return
        self._started = (coro, awaited)
        self._task = asyncio.get_running_loop().create_task(self._drain(), context=context)
        self._task.add_done_callback(self._drained, context=context)

    async def call(self, job: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run *job* in turn, as push does; wait for it and return its result."""
        done = asyncio.get_running_loop().create_future()

        async def run_and_report() -> None:
            try:
                result = await job()
            except BaseException as error:  # handed to the caller
                if not done.done():
                    done.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
            else:
                if not done.done():
                    done.set_result(result)

        self.push(run_and_report)
        if self.closed and not done.done():
            done.cancel()
        return await done

    def close(self) -> None:
        """Drop the queued jobs and stop the one in progress."""
        self.closed = True
        self._queue = None
        if self._task is not None:
            self._task.cancel()

    async def _drain(self) -> None:
        coro, awaited = self._started
        self._started = None
        try:
            await self._run(_resume(coro, awaited))
            while self._queue:
                await self._run(self._queue.popleft()())
        finally:
            self._task = self._queue = None

    def _drained(self, task: asyncio.Task) -> None:
        # _drain clears _task when it ends; still set, the task was cancelled
        # before it began: cancel the job where it waits, as a task would have.
        if self._task is not task or self._started is None:
            return
        coro, awaited = self._started
        self._started = None
        self._task = None
        if awaited is not None:
            awaited.cancel()
        try:
            coro.throw(asyncio.CancelledError())
        except BaseException:
            return  # it ended, as it should
        coro.close()

    async def _run(self, job: Awaitable[Any]) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._failed(error)

    def _failed(self, error: BaseException) -> None:
        # The socket cannot be trusted with later jobs (it would miss this
        # one's frames): stop, and let the owner decide what to do.
        self.closed = True
        self._queue = None
        if self._on_error is None:
            logger.error("A socket's delivery failed", exc_info=error)
        else:
            self._error_task = asyncio.ensure_future(self._on_error(error))


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], awaited: Any) -> Any:
    """
    Finish *coro*, which was started by hand and is suspended on *awaited*,
    in the task that awaits this: hand the task what *coro* yields and *coro*
    what the task sends or throws, as ``await coro`` would have from the
    start. The task then waits, wakes and cancels *coro* exactly as if it had
    run it all along, and nothing here looks into asyncio's futures.
    (Python 3.12's eager tasks do this natively; this project runs on 3.11.)
    """
    while True:
        try:
            sent = yield awaited
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as error:  # the task's cancellation, mostly
            try:
                awaited = coro.throw(error)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                awaited = coro.send(sent)
            except StopIteration as stop:
                return stop.value
