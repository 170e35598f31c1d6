"""Real server processes for the tests: the deployed server on free ports, always stopped."""

import http.client
import json
import time
from pathlib import Path
from typing import Any

from deploy.alice.cluster import DEFAULT_THREADS, server_command
from deploy.processes import Started, free_port

__all__ = ["PING", "Server", "free_port"]

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


class Server:
    """One webhook process (as deploy/alice/cluster.py runs it) on a free port."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str) -> None:
        self.log_path = log_dir / f"{name}.log"
        self.port = free_port()
        # The deployed command line (deploy/alice/cluster.py), on a port of the test's own,
        # in a session of its own: stopping it takes the server's worker too.
        self.handle = Started(
            server_command(self.port, threads=DEFAULT_THREADS),
            port=None,
            log=self.log_path,
            env=env,
            cwd=REPO_ROOT,
        )

    def start(self) -> "Server":
        """Start the server and return once it answers, or raise with its log."""
        process = self.handle.start().process
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}):\n{self.log()}")
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
        self.handle.kill()

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        self.handle.stop(STOP_TIMEOUT)

    def log(self) -> str:
        """Return the end of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"
