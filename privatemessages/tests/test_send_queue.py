"""A socket's SendQueue: jobs in order, at once when they can, never holding up the caller."""

import asyncio
import contextvars

import pytest

from privatemessages.send_queue import SendQueue


async def test_a_job_that_does_not_wait_runs_inside_push():
    queue = SendQueue()
    done = []

    async def job():
        done.append(1)

    queue.push(job)
    assert done == [1]
    assert not queue.busy


async def test_jobs_pushed_while_one_waits_run_after_it_in_order():
    queue = SendQueue()
    release = asyncio.Event()
    order = []

    async def slow():
        order.append("slow started")
        await release.wait()
        order.append("slow done")

    def quick(n):
        async def job():
            order.append(n)

        return job

    queue.push(slow)
    queue.push(quick(1))
    queue.push(quick(2))
    assert order == ["slow started"]
    assert queue.busy
    release.set()
    await queue.call(quick(3))
    assert order == ["slow started", "slow done", 1, 2, 3]
    assert not queue.busy


async def test_one_stalled_queue_does_not_hold_up_another():
    stalled, other = SendQueue(), SendQueue()
    never = asyncio.Event()
    delivered = []

    async def stuck():
        await never.wait()

    async def deliver():
        delivered.append("other")

    stalled.push(stuck)
    other.push(deliver)
    assert delivered == ["other"]
    stalled.close()
    await asyncio.sleep(0)


async def test_call_returns_the_result_and_raises_the_error():
    queue = SendQueue()

    async def answer():
        await asyncio.sleep(0)
        return 42

    async def fail():
        await asyncio.sleep(0)
        raise ValueError("no answer")

    assert await queue.call(answer) == 42
    with pytest.raises(ValueError, match="no answer"):
        await queue.call(fail)
    assert await queue.call(answer) == 42


async def test_a_failed_job_is_reported_and_stops_the_queue():
    reported = []

    async def on_error(error):
        reported.append(error)

    queue = SendQueue(on_error=on_error)
    ran = []

    async def fail():
        await asyncio.sleep(0)
        raise RuntimeError("database down")

    async def later():
        ran.append(1)

    queue.push(fail)
    queue.push(later)
    while not reported:
        await asyncio.sleep(0.01)
    assert isinstance(reported[0], RuntimeError)
    assert ran == []
    assert queue.closed


async def test_jobs_do_not_leak_context_variables_into_the_caller():
    """asgiref sets context variables around database calls; a job's stay its own."""
    var = contextvars.ContextVar("var", default="caller")
    queue = SendQueue()

    async def job():
        var.set("job")
        await asyncio.sleep(0)
        assert var.get() == "job"

    queue.push(job)
    assert var.get() == "caller"
    await queue.call(job)
    assert var.get() == "caller"


async def test_closing_cancels_the_waiting_job():
    queue = SendQueue()
    cancelled = []

    async def waits():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    queue.push(waits)
    queue.close()
    for _ in range(10):
        await asyncio.sleep(0)
    assert cancelled == [1]
    assert not queue.busy


async def test_a_job_that_waits_several_times_finishes_in_the_queues_task():
    """A job suspended more than once, on futures and bare yields, resumes until it returns."""
    queue = SendQueue()
    loop = asyncio.get_running_loop()
    steps = []

    async def job():
        for n in range(3):
            future = loop.create_future()
            loop.call_soon(future.set_result, n)
            steps.append(await future)
            await asyncio.sleep(0)
        return "done"

    assert await queue.call(job) == "done"
    assert steps == [0, 1, 2]
    assert not queue.busy


async def test_closing_cancels_a_job_where_it_waits_after_it_moved_to_the_task():
    """A job already waiting in the queue's task gets CancelledError at its await, once."""
    queue = SendQueue()
    waiting = asyncio.Event()
    cancelled = []

    async def waits():
        try:
            waiting.set()
            await asyncio.sleep(0)  # now continued by the queue's task
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    queue.push(waits)
    await waiting.wait()
    for _ in range(3):
        await asyncio.sleep(0)
    assert queue.busy
    queue.close()
    for _ in range(10):
        await asyncio.sleep(0)
    assert cancelled == [1]
    assert not queue.busy
