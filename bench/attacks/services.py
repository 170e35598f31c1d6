"""
What the attack scripts share: a disposable database and Redis prefix of their
own, and the site's server started as deploy/cluster.py runs it.
"""

import urllib.parse
from pathlib import Path

from deploy.cluster import server_command
from deploy.processes import Started

HOST = "127.0.0.1"


def admin_url(database_url: str) -> tuple[str, str]:
    """Return the server's maintenance-database URL and the run's database name."""
    url = urllib.parse.urlsplit(database_url)
    if url.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("the attack runs on loopback only: point the database URL at it")
    return urllib.parse.urlunsplit(url._replace(path="/postgres")), url.path.lstrip("/")


def drop_database(env: dict[str, str]) -> None:
    import psycopg

    url, name = admin_url(env["DATABASE_URL"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_keys(env: dict[str, str]) -> None:
    """Delete the run's keys (its REDIS_KEY_PREFIX), nothing else."""
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    try:
        for key in client.scan_iter(match=f"{env['REDIS_KEY_PREFIX']}*", count=1000):
            client.delete(key)
    finally:
        client.close()


def start_server(env: dict[str, str], tree: Path, port: int, log: Path) -> Started:
    """Start *tree*'s server as deploy/cluster.py runs it; return once it listens."""
    server = Started(server_command(HOST, port), port=port, log=log, env=env, cwd=tree)
    try:
        return server.start(60)
    except RuntimeError as error:
        server.stop()
        raise SystemExit(f"{error}\nsee {log}") from None


def stop_server(server: Started) -> None:
    server.stop(15)
