"""
What a sleep, a wake and a thread hop cost a process here, in CPU, apart from any work:
the scale against which the chat's CPU per message is read (bench/README.md). On a
virtual machine a wake can cost more than the Python it wakes for.

    .venv/bin/python -m bench.wake_cost
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import uvloop

PAUSE = 0.02  # seconds: a process that is idle between messages


def cpu_us_per_call(run: Callable[[int], None], count: int) -> float:
    started = time.process_time()
    run(count)
    return (time.process_time() - started) / count * 1e6


def on_loop(make: Callable[[], Awaitable[None]], count: int, *, new_loop) -> None:
    async def repeat() -> None:
        for _ in range(count):
            await make()

    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(repeat())


def main() -> None:
    pool = ThreadPoolExecutor(max_workers=1)

    def noop() -> None:
        pass

    async def hop() -> None:
        await asyncio.get_running_loop().run_in_executor(pool, noop)

    async def hop_then_pause() -> None:
        await hop()
        await asyncio.sleep(PAUSE)

    rows = [
        ("time.sleep(20 ms) in a thread", lambda n: [time.sleep(PAUSE) for _ in range(n)], 100),
    ]
    for name, new_loop in (("asyncio", asyncio.new_event_loop), ("uvloop", uvloop.new_event_loop)):
        rows += [
            (
                f"{name}: await asyncio.sleep(20 ms)",
                lambda n, f=new_loop: on_loop(lambda: asyncio.sleep(PAUSE), n, new_loop=f),
                100,
            ),
            (
                f"{name}: a hop to a thread and back, back to back",
                lambda n, f=new_loop: on_loop(hop, n, new_loop=f),
                2000,
            ),
            (
                f"{name}: a hop, then 20 ms idle (less the idle alone)",
                lambda n, f=new_loop: on_loop(hop_then_pause, n, new_loop=f),
                100,
            ),
        ]
    figures = [(name, cpu_us_per_call(run, count)) for name, run, count in rows]
    sleeps = {name.split(":")[0]: us for name, us in figures if "await asyncio.sleep" in name}
    print(f"{'what':58} {'µs of CPU each':>15}")
    for name, us in figures:
        if "less the idle" in name:
            us -= sleeps[name.split(":")[0]]
        print(f"{name:58} {us:15.0f}")
    pool.shutdown()


if __name__ == "__main__":
    main()
