"""
RedisChannelLayer against RedisPubSubChannelLayer, the way the chat uses them.

A receiver process opens S channels, puts them all in one group and reads each
with its own task, as S consumers of one chat would; the sender (this process)
group_sends M messages to that group. Reported per layer:

- deliveries/s from the first send to the last delivery,
- latency from group_send to receive (p50, p99),
- receiver CPU per delivery (the figure that limits a server process),
- lost deliveries (expected S*M minus received),
- a burst of B messages into a group whose reader stalls for a second, with
  the layer's default capacity and with the capacity configured in settings:
  what a slow socket or a busy process loses without a word.

    python bench/channel_layer.py --redis redis://127.0.0.1:6379/0

Only keys under a fresh ``bench-<random>:`` prefix are written, and they are
deleted at the end: the Redis server may be shared.
"""

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time
import uuid

import redis

LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
GROUP = "bench.group"


def make_layer(kind: str, url: str, prefix: str, **extra):
    from django.utils.module_loading import import_string

    config = {"hosts": [{"address": url, "max_connections": 1000}], "prefix": prefix}
    if kind == "core":
        config.update(extra)
    return import_string(LAYERS[kind])(**config)


async def _receiver(kind, url, prefix, sockets, expected, stall, extra, ready, results):
    layer = make_layer(kind, url, prefix, **extra)
    channels = [await layer.new_channel() for _ in range(sockets)]
    for channel in channels:
        await layer.group_add(GROUP, channel)
    latencies: list[float] = []
    done = asyncio.Event()
    counts = [0]
    last_at = [0.0]

    async def read(channel):
        if stall:
            await asyncio.sleep(stall)
        while True:
            message = await layer.receive(channel)
            last_at[0] = time.time()
            latencies.append(last_at[0] - message["sent"])
            counts[0] += 1
            if counts[0] == expected:
                done.set()

    cpu_before = time.process_time()
    tasks = [asyncio.create_task(read(channel)) for channel in channels]
    ready.set()
    timeout = False
    try:
        await asyncio.wait_for(done.wait(), timeout=30 + stall)
    except TimeoutError:
        # Some were lost: wait until nothing more arrives.
        timeout = True
    cpu = time.process_time() - cpu_before
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await layer.group_discard(GROUP, channel)
    results.put(
        {
            "received": counts[0],
            "cpu": cpu,
            "last_at": last_at[0],
            "latencies": sorted(latencies),
            "timed_out": timeout,
        }
    )


def receiver_main(*args):
    asyncio.run(_receiver(*args))


async def _send(kind, url, prefix, messages, extra):
    layer = make_layer(kind, url, prefix, **extra)
    start = time.time()
    for n in range(messages):
        await layer.group_send(GROUP, {"type": "chat.message", "n": n, "sent": time.time()})
    return start, time.time() - start


def run(kind, url, *, sockets, messages, stall=0.0, **extra):
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    expected = sockets * messages
    proc = ctx.Process(
        target=receiver_main,
        args=(kind, url, prefix, sockets, expected, stall, extra, ready, results),
    )
    proc.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("receiver did not start")
        time.sleep(0.2)
        start, send_time = asyncio.run(_send(kind, url, prefix, messages, extra))
        result = results.get(timeout=120)
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        _delete_prefix(url, prefix)
    lat = result["latencies"] or [0.0]
    received = result["received"]
    elapsed = max(result["last_at"] - start, 1e-9)
    return {
        "layer": kind,
        "sockets": sockets,
        "messages": messages,
        "stall_s": stall,
        **extra,
        "expected": expected,
        "received": received,
        "lost": expected - received,
        # Meaningless when the reader stalls on purpose.
        "deliveries_per_s": None if stall else round(received / elapsed),
        "group_send_us": round(send_time / messages * 1e6, 1),
        "latency_p50_ms": round(statistics.median(lat) * 1000, 2),
        "latency_p99_ms": round(lat[int(len(lat) * 0.99) - 1 if len(lat) > 1 else 0] * 1000, 2),
        "receiver_cpu_us_per_delivery": round(result["cpu"] / max(received, 1) * 1e6, 1),
    }


def _delete_prefix(url, prefix):
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args()
    scenarios = []
    for kind in LAYERS:
        extra = {"capacity": 5000, "expiry": 30} if kind == "core" else {}
        scenarios += [
            (kind, {"sockets": 2, "messages": 2000, **extra}),
            (kind, {"sockets": 100, "messages": 200, **extra}),
            (kind, {"sockets": 500, "messages": 40, **extra}),
        ]
    # A reader that stalls for a second, as a socket on a busy process does.
    scenarios += [
        ("core", {"sockets": 1, "messages": 1000, "stall": 1.0}),
        ("core", {"sockets": 1, "messages": 1000, "stall": 1.0, "capacity": 5000}),
        ("pubsub", {"sockets": 1, "messages": 1000, "stall": 1.0}),
    ]
    rows = []
    for kind, params in scenarios:
        row = run(kind, args.redis, **params)
        rows.append(row)
        print(json.dumps(row) if args.json else _line(row), flush=True)


def _line(row):
    name = f"{row['layer']:6} S={row['sockets']:<4} M={row['messages']:<5}"
    if "capacity" in row:
        name += f" capacity={row['capacity']}"
    lost = f"lost {row['lost']}/{row['expected']}"
    if row["stall_s"]:
        return f"{name} reader stalled {row['stall_s']:.0f}s: {lost}"
    return (
        f"{name}: {row['deliveries_per_s']:>7} deliveries/s, "
        f"group_send {row['group_send_us']} µs, "
        f"p50 {row['latency_p50_ms']} ms, p99 {row['latency_p99_ms']} ms, "
        f"receiver {row['receiver_cpu_us_per_delivery']} µs CPU/delivery, {lost}"
    )


if __name__ == "__main__":
    main()
