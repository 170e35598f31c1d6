"""Real server processes for the tests: the deployed server on free ports, always stopped."""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from deploy.alice.cluster import DEFAULT_THREADS, server_command

from .conftest import REPO_ROOT

# Every wait below is bounded by one of these.
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

PING = {
    "request": {"command": "", "original_utterance": "ping"},
    "session": {"session_id": "ping", "message_id": 0, "new": True},
    "version": "1.0",
}


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One webhook process (as deploy/alice/cluster.py runs it) on a free port."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str) -> None:
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        """Start the server and return once it answers, or raise with its log."""
        # The deployed command line (deploy/alice/cluster.py), on a port of the test's own.
        command = server_command(self.port, threads=DEFAULT_THREADS)
        with self.log_path.open("ab") as log:
            # A session of its own: stopping it takes the server's worker too.
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.log()}")
            try:
                if self.post("/alice/", PING)["response"]["text"] == "pong":
                    return self
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"the server did not answer in {START_TIMEOUT} s:\n{self.log()}"
                )
            time.sleep(0.1)

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        """POST *data* as JSON; return the JSON answer (raise unless it is a 200)."""
        return json.loads(self.post_raw(path, json.dumps(data, ensure_ascii=False).encode()))

    def post_raw(self, path: str, body: bytes) -> bytes:
        """POST *body*; return the body of the answer (raise unless it is a 200)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise http.client.HTTPException(f"{response.status}: {content[:500]!r}")
        return content

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, signum)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)

    def log(self) -> str:
        """Return the end of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"
