"""
Real server processes for the end-to-end tests: the site's ASGI server as
deploy/cluster.py runs it, and the deploy/ cluster (several of them behind nginx).

The processes use the test database and the run's Redis key prefix, so a test
that starts them must commit its data: ``django_db(transaction=True)``. Every
process is started in its own session and stopped by its pid in teardown.
"""

import asyncio
import contextlib
import os
import sys
import threading
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from deploy.processes import Started, free_port, free_ports, wait_for_port

__all__ = ["Cluster", "ServerProcess", "TcpProxy", "free_port", "free_ports", "wait_for_port"]

BASE_DIR = Path(settings.BASE_DIR)
STARTUP_TIMEOUT = 30


def database_url() -> str:
    """Return a DATABASE_URL for the database the tests use right now (the test one)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # A file (see conftest.py), which a server process opens as well.
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("server processes need PostgreSQL or SQLite to share the test database")
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def server_env(**extra: str) -> dict[str, str]:
    """Return the environment of a server process sharing this test run's data."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_TEST_NAME", "PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="myproject.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
        # The test's: the sessions it makes must be valid in the processes (deploy/cluster.py
        # would otherwise use a key of its own).
        SECRET_KEY=settings.SECRET_KEY,
        DEBUG="1",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


class _LoggedProcess(Started):
    """A process listening on 127.0.0.1:*port*, its output in *log*."""

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


class ServerProcess(_LoggedProcess):
    """One ASGI process serving the site on 127.0.0.1:*port*, as deploy/cluster.py runs it."""

    def __init__(self, port: int, log_dir: Path, env: dict[str, str]) -> None:
        from deploy.cluster import server_command

        command = server_command("127.0.0.1", port)
        super().__init__(command, port=port, log=log_dir / f"asgi-{port}.log", env=env)

    def start(self) -> "ServerProcess":
        return super().start(STARTUP_TIMEOUT)


class Cluster(_LoggedProcess):
    """deploy/cluster.py: N ASGI processes on consecutive ports and nginx in front."""

    def __init__(self, processes: int, log_dir: Path, env: dict[str, str]) -> None:
        self.processes = processes
        self.log_dir = log_dir
        self.ports = free_ports(processes)
        port = free_port()
        command = [
            sys.executable,
            str(BASE_DIR / "deploy" / "cluster.py"),
            *("--processes", str(processes)),
            *("--base-port", str(self.ports[0])),
            *("--port", str(port)),
            *("--run-dir", str(log_dir / "cluster-run")),
            "--no-migrate",
            # Not collectstatic into the source tree: WhiteNoise serves /static/.
            *("--static", "django"),
        ]
        super().__init__(command, port=port, log=log_dir / "cluster.log", env=env)

    def start(self) -> "Cluster":
        return super().start(STARTUP_TIMEOUT, ports=[self.port, *self.ports])

    def stop(self) -> None:
        # cluster.py stops its ASGI processes and nginx on SIGTERM (they run in sessions of
        # their own); a runner stuck in its shutdown is killed after 20 s.
        super().stop(timeout=20)


class TcpProxy:
    """
    A TCP relay to 127.0.0.1:*target* whose "network" can be cut: going offline
    aborts every open connection (the browser sees its WebSocket drop) and
    refuses new ones until it is back online. Stalled, it passes nothing on
    while every connection stays open (a half-open connection: the browser
    sees nothing happen). Runs its own event loop thread.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.online = True
        self.stalled = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "TcpProxy":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", self.port), self._loop
        ).result(10)
        return self

    def set_online(self, online: bool) -> None:
        self.online = online
        if not online:
            asyncio.run_coroutine_threadsafe(self._abort_all(), self._loop).result(10)

    def set_stalled(self, stalled: bool) -> None:
        """Stall every connection, or end the stall: then the stalled ones are aborted."""
        self.stalled = stalled
        if not stalled:
            asyncio.run_coroutine_threadsafe(self._abort_all(), self._loop).result(10)

    def stop(self) -> None:
        async def shutdown():
            self._server.close()
            await self._abort_all()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader, writer) -> None:
        if not self.online:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source, sink):
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    if not self.stalled:  # else lost, as on a dead link
                        sink.write(data)
                        await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))
