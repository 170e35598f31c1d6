"""
A log-in flood: many concurrent wrong-password POSTs against one ASGI process (the site as
deploy/cluster.py runs it, from --tree: this one or a ``git worktree`` of another commit,
with a database pool of --pool-size and Django's real password hasher) while a logged-in
user ("boris") keeps loading /messages/; halfway through the flood's first second the
attacked user ("anna") logs in from another loopback address (127.0.0.2). Prints the flood's
statuses, boris's page times, anna's own log-in and the server log's errors; asserts
nothing; loopback only; bounded in time. Its database (BENCH_LOGIN_DATABASE_URL, default
bench_login_flood) is made afresh and dropped at the end; its Redis keys (BENCH_REDIS_URL)
go under a fresh prefix, deleted at the end.

    .venv/bin/python bench/attacks/login_flood.py [--tree PATH] [--requests 400]
        [--concurrency 100] [--pool-size 10] [--deadline 300]
"""

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import HOST, RESULTS, percentile, prepare_site, site, site_env  # noqa: E402

OWNER_SOURCE = "127.0.0.2"
ATTACKED = "anna"
NORMAL = "boris"
PASSWORD = "bench-password-8142"
REQUEST_TIMEOUT = 60.0
NAN = float("nan")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--tree", type=Path, default=ROOT, help="source tree to serve")
    add("--requests", type=int, default=400, help="wrong-password POSTs")
    add("--concurrency", type=int, default=100, help="POSTs in flight")
    add("--pool-size", type=int, default=10, help="DATABASE_POOL_SIZE")
    add("--page-interval", type=float, default=0.1, help="seconds between boris's page loads")
    add("--deadline", type=float, default=300, help="longest the flood may run, in seconds")
    add("--label", default="", help="name of the run in the output")
    return parser.parse_args()


# --- a small HTTP/1.1 client ------------------------------------------------------


async def fetch(port: int, method: str, path: str, *, form=None, cookies=None, source=HOST):
    """One request on a connection of its own (Connection: close) from the address
    *source*; return its status and the cookies it sets."""
    body = urllib.parse.urlencode(form).encode() if form is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n"
    if cookies:
        head += "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()) + "\r\n"
    if form is not None:
        head += "Content-Type: application/x-www-form-urlencoded\r\n"
        head += f"Content-Length: {len(body)}\r\n"
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    try:
        writer.write(f"{head}\r\n".encode() + body)
        answer = (await reader.read()).partition(b"\r\n\r\n")[0].decode("latin-1")
    finally:
        writer.close()
    set_cookies = re.findall(r"(?im)^set-cookie:\s*([^=]+)=([^;\r\n]*)", answer)
    return int(answer.split()[1]), dict(set_cookies)


async def log_in(port: int, username: str, password: str, source: str = HOST):
    """GET the log-in page for its CSRF cookie, then POST *password*."""
    status, cookies = await fetch(port, "GET", "/accounts/login/", source=source)
    if "csrftoken" not in cookies:
        raise RuntimeError(f"no CSRF cookie on the log-in page (HTTP {status})")
    form = {"username": username, "password": password}
    form["csrfmiddlewaretoken"] = cookies["csrftoken"]
    return await fetch(port, "POST", "/accounts/login/", form=form, cookies=cookies, source=source)


# --- the run ------------------------------------------------------------------------


async def run(port: int, args: argparse.Namespace) -> dict:
    status, boris = await log_in(port, NORMAL, PASSWORD)
    if status != 302 or "sessionid" not in boris:
        raise RuntimeError(f"boris could not log in (HTTP {status})")
    session = boris["sessionid"]

    _, cookies = await fetch(port, "GET", "/accounts/login/")  # one CSRF cookie for all
    form = {"username": ATTACKED, "password": "wrong-password"}
    form["csrfmiddlewaretoken"] = cookies["csrftoken"]
    flood: Counter[str] = Counter()
    flood_times: list[float] = []
    remaining = iter(range(args.requests))

    async def attacker() -> None:
        for _ in remaining:
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    fetch(port, "POST", "/accounts/login/", form=form, cookies=cookies),
                    REQUEST_TIMEOUT,
                )
                flood[str(response[0])] += 1
            except (OSError, TimeoutError, ValueError, IndexError) as exc:
                flood[type(exc).__name__] += 1
            flood_times.append(time.perf_counter() - started)

    pages: Counter[str] = Counter()
    page_times: list[float] = []
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    fetch(port, "GET", "/messages/", cookies={"sessionid": session}),
                    REQUEST_TIMEOUT,
                )
                pages[str(response[0])] += 1
            except (OSError, TimeoutError, ValueError, IndexError) as exc:
                pages[type(exc).__name__] += 1
            elapsed = time.perf_counter() - started
            page_times.append(elapsed)
            await asyncio.sleep(max(0.0, args.page_interval - elapsed))

    owner: dict = {}

    async def owner_logs_in() -> None:
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        try:
            response = await asyncio.wait_for(
                log_in(port, ATTACKED, PASSWORD, source=OWNER_SOURCE), REQUEST_TIMEOUT
            )
            owner["status"] = response[0]
        except (OSError, TimeoutError, ValueError, IndexError) as exc:
            owner["status"] = type(exc).__name__
        owner["seconds"] = round(time.perf_counter() - started, 3)

    page_task = asyncio.create_task(reader())
    owner_task = asyncio.create_task(owner_logs_in())
    started = time.perf_counter()
    attackers = [asyncio.create_task(attacker()) for _ in range(args.concurrency)]
    _, late = await asyncio.wait(attackers, timeout=args.deadline)
    for task in late:
        task.cancel()
    flood_seconds = time.perf_counter() - started
    await asyncio.wait([owner_task], timeout=REQUEST_TIMEOUT)
    done.set()
    await asyncio.wait([page_task], timeout=REQUEST_TIMEOUT)
    return {
        "flood_statuses": dict(sorted(flood.items())),
        "flood_unanswered": args.requests - sum(flood.values()),
        "flood_seconds": round(flood_seconds, 2),
        "flood_p50_s": round(percentile(flood_times, 0.5) or NAN, 3),
        "flood_max_s": round(max(flood_times, default=NAN), 3),
        "page_loads": len(page_times),
        "page_statuses": dict(sorted(pages.items())),
        "page_p50_ms": round((percentile(page_times, 0.5) or NAN) * 1000, 1),
        "page_p99_ms": round((percentile(page_times, 0.99) or NAN) * 1000, 1),
        "page_max_ms": round(max(page_times, default=NAN) * 1000, 1),
        "page_mean_ms": round(statistics.fmean(page_times) * 1000, 1) if page_times else None,
        "owner_login_from_other_address": owner,
    }


def log_errors(log: Path) -> dict[str, int]:
    """Count the server log's lines by logger and level (WARNING and up)."""
    counts: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        match = re.match(r"\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+): (.{0,40})", line)
        if match:
            level, name, text = match.groups()
            if name == "django.request":
                text = text.split(":")[0]
            elif name == "accounts.throttle":
                text = "limit reached"
            elif name == "myproject.overload":
                text = "pool exhausted"
            counts[f"{level} {name}: {text}"] += 1
    return dict(counts.most_common())


def main() -> int:
    args = parse_args()
    tree = args.tree.resolve()
    pool = {"DATABASE_POOL_SIZE": str(args.pool_size)}
    env = site_env(tree, "login_flood", "BENCH_LOGIN_DATABASE_URL", **pool)
    label = args.label or tree.name
    print(f"login flood: serving {tree} (pool {args.pool_size}); preparing the database...")
    users = f"for name in ({ATTACKED!r}, {NORMAL!r}):\n    User.objects.create_user(name, "
    script = "from django.contrib.auth import get_user_model\nUser = get_user_model()\n"
    prepare_site(env, tree, script + users + f"password={PASSWORD!r})\n")
    with site(env, tree, 1, f"login_flood-{label}") as (server,):
        print(
            f"{args.requests} wrong-password POSTs, {args.concurrency} at a time, "
            f"while boris loads /messages/ every {args.page_interval * 1000:.0f} ms..."
        )
        result = asyncio.run(run(server.port, args))
    log = server.log
    result = {
        "workload": "login_flood",
        "label": label,
        "tree": str(tree),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "pool_size": args.pool_size,
        **result,
        "server_log": log_errors(log),
    }
    print()
    print(f"flood ({result['flood_seconds']} s):", result["flood_statuses"])
    if result["flood_unanswered"]:
        print("  unanswered at the deadline:", result["flood_unanswered"])
    print(
        f"boris's /messages/ ({result['page_loads']} loads): p50 {result['page_p50_ms']} ms,"
        f" p99 {result['page_p99_ms']} ms, max {result['page_max_ms']} ms;"
        f" statuses {result['page_statuses']}"
    )
    print("anna from another address:", result["owner_login_from_other_address"])
    print("server log:", result["server_log"] or "nothing at WARNING or above")
    out = RESULTS / f"login_flood-{label}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
