"""
The benchmark's environment: its own PostgreSQL database, its own Redis key
prefix, and the variables every server process and the load client share.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
SETTINGS = "bench.chat.bench_settings"
PEER_SETTINGS = "bench.chat.peer.settings"

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_chat"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Shared by the fixtures (session auth hashes) and every server process.
SECRET_KEY = "bench-only-secret-key-not-for-any-real-site-0123456789abcdef"


def bench_env() -> dict[str, str]:
    """
    Return the environment of this benchmark run, creating its Redis prefix once.

    BENCH_DATABASE_URL / BENCH_REDIS_URL choose the servers; the prefix is
    random per run unless REDIS_KEY_PREFIX is set.
    """
    if "BENCH_RUN_PREFIX" not in os.environ:
        os.environ["BENCH_RUN_PREFIX"] = os.environ.get(
            "REDIS_KEY_PREFIX", f"bench-{secrets.token_hex(4)}:"
        )
    prefix = os.environ["BENCH_RUN_PREFIX"]
    env = dict(os.environ)
    env.update(
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        REDIS_KEY_PREFIX=prefix,
        SECRET_KEY=SECRET_KEY,
        DJANGO_SETTINGS_MODULE=SETTINGS,
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        # An empty static root keeps WhiteNoise quiet; no page here needs files.
        STATIC_ROOT=str(RESULTS / "static"),
    )
    (RESULTS / "static").mkdir(parents=True, exist_ok=True)
    return env


def activate() -> dict[str, str]:
    """Apply bench_env() to this process (before django.setup())."""
    env = bench_env()
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return env


def ensure_database(env: dict[str, str]) -> None:
    """Create the bench database if it is missing, and migrate it."""
    import psycopg

    url = urlsplit(env["DATABASE_URL"])
    name = url.path.lstrip("/")
    admin_url = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def delete_redis_keys(env: dict[str, str]) -> int:
    """Delete this run's Redis keys (and only those); return how many."""
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    deleted = 0
    try:
        batch = []
        for key in client.scan_iter(match=f"{env['REDIS_KEY_PREFIX']}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
    finally:
        client.close()
    return deleted
