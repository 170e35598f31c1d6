"""A socket's Outbox: jobs in order, at once when they can, never holding up the caller."""

import asyncio
import contextvars

import pytest

from privatemessages.outbox import Outbox


async def test_a_job_that_does_not_wait_runs_inside_push():
    outbox = Outbox()
    done = []

    async def job():
        done.append(1)

    outbox.push(job)
    assert done == [1]
    assert not outbox.busy


async def test_jobs_pushed_while_one_waits_run_after_it_in_order():
    outbox = Outbox()
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

    outbox.push(slow)
    outbox.push(quick(1))
    outbox.push(quick(2))
    assert order == ["slow started"]
    assert outbox.busy
    release.set()
    await outbox.call(quick(3))
    assert order == ["slow started", "slow done", 1, 2, 3]
    assert not outbox.busy


async def test_one_stalled_outbox_does_not_hold_up_another():
    stalled, other = Outbox(), Outbox()
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
    outbox = Outbox()

    async def answer():
        await asyncio.sleep(0)
        return 42

    async def fail():
        await asyncio.sleep(0)
        raise ValueError("no answer")

    assert await outbox.call(answer) == 42
    with pytest.raises(ValueError, match="no answer"):
        await outbox.call(fail)
    assert await outbox.call(answer) == 42


async def test_a_failed_job_is_reported_and_stops_the_outbox():
    reported = []

    async def on_error(error):
        reported.append(error)

    outbox = Outbox(on_error=on_error)
    ran = []

    async def fail():
        await asyncio.sleep(0)
        raise RuntimeError("database down")

    async def later():
        ran.append(1)

    outbox.push(fail)
    outbox.push(later)
    while not reported:
        await asyncio.sleep(0.01)
    assert isinstance(reported[0], RuntimeError)
    assert ran == []
    assert outbox.closed


async def test_jobs_do_not_leak_context_variables_into_the_caller():
    """asgiref sets context variables around database calls; a job's stay its own."""
    var = contextvars.ContextVar("var", default="caller")
    outbox = Outbox()

    async def job():
        var.set("job")
        await asyncio.sleep(0)
        assert var.get() == "job"

    outbox.push(job)
    assert var.get() == "caller"
    await outbox.call(job)
    assert var.get() == "caller"


async def test_closing_cancels_the_waiting_job():
    outbox = Outbox()
    cancelled = []

    async def waits():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    outbox.push(waits)
    outbox.close()
    for _ in range(10):
        await asyncio.sleep(0)
    assert cancelled == [1]
    assert not outbox.busy
