"""
Server processes for the cluster runners, the tests and the benchmarks: free ports, waiting
for a port to listen, and a started process in a session of its own (its output in a log
file), stopped or killed with its whole process group (a server's workers included).
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_ports(count: int, start: int | None = None) -> list[int]:
    """Return *count* consecutive free ports (from *start* up, if given)."""
    for attempt in range(1000):
        first = free_port() if start is None else start + attempt * count
        ports = list(range(first, first + count))
        if all(port_is_free(port) for port in ports):
            return ports
    raise RuntimeError(f"no {count} consecutive free ports")


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Return True if something accepts connections on 127.0.0.1:*port*."""
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((HOST, port)) == 0


def signal_group(pid: int, signum: int) -> None:
    """Send *signum* to the process group *pid* (a session leader's), if it is still there."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def stop_group(process: subprocess.Popen, timeout: float = 10, signum=signal.SIGTERM) -> None:
    """
    Send *signum* (None: none, it was sent) to *process*'s group, wait up to *timeout* s,
    then SIGKILL what is left of the group.
    """
    if signum is not None and process.poll() is None:
        signal_group(process.pid, signum)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout)
    signal_group(process.pid, signal.SIGKILL)  # a worker that outlived its master


def spawn(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path = BASE_DIR,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen:
    """Start *command* in a session of its own, its output appended to *log* (or inherited)."""
    with open(log, "ab") if log else contextlib.nullcontext() as out:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )


class Started:
    """
    A server process on 127.0.0.1:*port* (None: no port to wait for), its output in *log*.
    ``start()`` returns once the port accepts connections, or raises with the log's end.
    """

    def __init__(
        self,
        command: list[str],
        *,
        port: int | None,
        log: Path | None,
        env: dict[str, str] | None = None,
        cwd: Path = BASE_DIR,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.command = command
        self.port = port
        self.log = log
        self.env = env
        self.cwd = cwd
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30, ports: list[int] | None = None) -> "Started":
        """
        Start it; wait until *ports* (default: its port) accept connections. If
        they do not, stop what was started (a runner would otherwise keep
        restarting its servers after the caller gave up) and raise.
        """
        self.process = spawn(
            self.command, env=self.env, log=self.log, cwd=self.cwd, preexec_fn=self.preexec_fn
        )
        try:
            for port in ports if ports is not None else [self.port] if self.port else []:
                self.wait_for_port(port, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_port(self, port: int, timeout: float = 30) -> None:
        wait_for_port(port, self.process, timeout, self.log)

    def stop(self, timeout: float = 10, signum=signal.SIGTERM) -> None:
        """Signal the group (SIGTERM), then SIGKILL it after *timeout* s."""
        if self.process is not None:
            stop_group(self.process, timeout, signum)

    def kill(self) -> None:
        """Kill the group at once (SIGKILL), as a crash would."""
        self.stop(signum=signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)


def wait_for_port(
    port: int, process: subprocess.Popen | None, timeout: float = 30, log: Path | None = None
) -> None:
    """Return once 127.0.0.1:*port* accepts connections; raise if *process* exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited:\n{tail(log)}")
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start in {timeout} s:\n{tail(log)}")


def tail(log: Path | None, lines: int = 40) -> str:
    """Return the last *lines* of *log*."""
    if log is None:
        return ""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"
