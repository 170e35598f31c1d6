"""
A log-in flood: many concurrent wrong-password POSTs against one ASGI process
while a logged-in user keeps loading her messages. Prints figures; asserts
nothing; loopback only; bounded in time.

    .venv/bin/python bench/attacks/login_flood.py [--tree PATH] [--requests 400]
        [--concurrency 100] [--pool-size 10] [--deadline 300]

The site runs as deploy/cluster.py runs each of its processes (uvicorn,
deploy.asgi), from the source tree --tree (default: this one; give a
``git worktree`` of another commit to compare), with the bench's deployed
settings (bench/chat/bench_settings.py: DEBUG off), PostgreSQL with a pool of
--pool-size connections, Redis, and Django's real password hasher.

The run's database (dropped and made again from --tree's migrations) is
BENCH_LOGIN_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bench_login_flood;
Redis is BENCH_REDIS_URL, default redis://127.0.0.1:6379/0, under a fresh key
prefix whose keys are deleted at the end.

What it does: logs "boris" in, then sends --requests POSTs of a wrong password
for "anna" (each with the CSRF cookie and token of one GET of the log-in page),
--concurrency at a time, while boris loads /messages/ once per --page-interval;
halfway through the flood's first second, anna logs in with her password from
another loopback address (127.0.0.2). It prints the flood's status histogram,
boris's page times (p50, p99, max) and statuses, anna's own log-in, and the
errors in the server's log; and saves them as JSON in bench/results/.
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.attacks.services import (  # noqa: E402
    HOST,
    admin_url,
    delete_redis_keys,
    drop_database,
    start_server,
    stop_server,
)
from deploy.processes import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_login_flood"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_KEY = "bench-only-secret-key-not-for-any-real-site-login-flood-0123456789"
OWNER_SOURCE = "127.0.0.2"
ATTACKED = "anna"
NORMAL = "boris"
PASSWORD = "bench-password-8142"
REQUEST_TIMEOUT = 60.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree to serve")
    parser.add_argument("--requests", type=int, default=400, help="wrong-password POSTs")
    parser.add_argument("--concurrency", type=int, default=100, help="POSTs in flight")
    parser.add_argument("--pool-size", type=int, default=10, help="DATABASE_POOL_SIZE")
    parser.add_argument(
        "--page-interval", type=float, default=0.1, help="seconds between boris's page loads"
    )
    parser.add_argument(
        "--deadline", type=float, default=300, help="longest the flood may run, in seconds"
    )
    parser.add_argument("--label", default="", help="name of the run in the output")
    return parser.parse_args()


# --- the site -----------------------------------------------------------------


def site_env(tree: Path, pool_size: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "DJANGO_", "LOGIN_THROTTLE_", "REDIS_"))
    }
    env.update(
        DATABASE_URL=os.environ.get("BENCH_LOGIN_DATABASE_URL", DEFAULT_DATABASE_URL),
        DATABASE_POOL_SIZE=str(pool_size),
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        REDIS_KEY_PREFIX=f"bench-login-{secrets.token_hex(4)}:",
        SECRET_KEY=SECRET_KEY,
        DJANGO_SETTINGS_MODULE="bench.chat.bench_settings",
        PYTHONPATH=str(tree),
        PYTHONDONTWRITEBYTECODE="1",
        STATIC_ROOT=str(RESULTS / "static"),
        LOG_LEVEL="WARNING",
    )
    return env


def recreate_database(env: dict[str, str], tree: Path) -> None:
    """Drop and create the run's database, migrate it with *tree*'s code, add the users."""
    import psycopg

    maintenance, name = admin_url(env["DATABASE_URL"])
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=tree, env=env, check=True)
    script = (
        "from django.contrib.auth import get_user_model\n"
        "User = get_user_model()\n"
        f"for name in ({ATTACKED!r}, {NORMAL!r}):\n"
        f"    User.objects.create_user(username=name, password={PASSWORD!r})\n"
    )
    subprocess.run([*manage, "shell", "-c", script], cwd=tree, env=env, check=True)


# --- a small HTTP/1.1 client ------------------------------------------------------


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def cookie(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == "set-cookie" and value.startswith(f"{name}="):
                return value.split(";", 1)[0].split("=", 1)[1]
        return None


async def fetch(
    port: int,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    source: str = HOST,
) -> Response:
    """One request on a connection of its own (Connection: close)."""
    body = urllib.parse.urlencode(form).encode() if form is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    if form is not None:
        lines.append("Content-Type: application/x-www-form-urlencoded")
        lines.append(f"Content-Length: {len(body)}")
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in header_lines:
        key, _, value = line.partition(":")
        headers.append((key.strip().lower(), value.strip()))
    return Response(int(status_line.split()[1]), headers, content)


async def login_form(port: int, source: str = HOST) -> tuple[str, dict[str, str]]:
    """Return the CSRF token and cookies of a GET of the log-in page."""
    page = await fetch(port, "GET", "/accounts/login/", source=source)
    token = page.cookie("csrftoken")
    if token is None:
        raise RuntimeError(f"no CSRF cookie on the log-in page (HTTP {page.status})")
    return token, {"csrftoken": token}


async def log_in(port: int, username: str, password: str, source: str = HOST) -> Response:
    token, cookies = await login_form(port, source)
    return await fetch(
        port,
        "POST",
        "/accounts/login/",
        form={"username": username, "password": password, "csrfmiddlewaretoken": token},
        cookies=cookies,
        source=source,
    )


# --- the run ------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(port: int, args: argparse.Namespace) -> dict:
    boris = await log_in(port, NORMAL, PASSWORD)
    session = boris.cookie("sessionid")
    if boris.status != 302 or session is None:
        raise RuntimeError(f"boris could not log in (HTTP {boris.status})")

    token, cookies = await login_form(port)
    form = {"username": ATTACKED, "password": "wrong-password", "csrfmiddlewaretoken": token}
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
                flood[str(response.status)] += 1
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
                pages[str(response.status)] += 1
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
            owner["status"] = response.status
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
        "flood_p50_s": round(percentile(flood_times, 0.5), 3),
        "flood_max_s": round(max(flood_times, default=float("nan")), 3),
        "page_loads": len(page_times),
        "page_statuses": dict(sorted(pages.items())),
        "page_p50_ms": round(percentile(page_times, 0.5) * 1000, 1),
        "page_p99_ms": round(percentile(page_times, 0.99) * 1000, 1),
        "page_max_ms": round(max(page_times, default=float("nan")) * 1000, 1),
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "static").mkdir(exist_ok=True)
    env = site_env(tree, args.pool_size)
    label = args.label or tree.name
    print(f"login flood: serving {tree} (pool {args.pool_size}); preparing the database...")
    recreate_database(env, tree)
    port = free_port()
    log = RESULTS / f"login_flood-{label}-{port}.log"
    server = start_server(env, tree, port, log)
    try:
        print(
            f"{args.requests} wrong-password POSTs, {args.concurrency} at a time, "
            f"while boris loads /messages/ every {args.page_interval * 1000:.0f} ms..."
        )
        result = asyncio.run(run(port, args))
    finally:
        stop_server(server)
        delete_redis_keys(env)
        drop_database(env)
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
