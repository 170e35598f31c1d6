"""
Start, watch and stop the servers under test as real processes.

Three kinds, each on P consecutive loopback ports:
- ``ours``: the project's ASGI app, by default as deploy/cluster.py runs it
  (uvicorn), or under daphne to compare;
- ``peer``: the tutorial-style consumer in bench/chat/peer under daphne;
- ``ceiling``: bench/chat/ceiling.py.
"""

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from deploy.processes import Started, free_ports, signal_group, stop_group, tail

from . import procstat
from .env import PEER_SETTINGS, PYTHON, RESULTS, ROOT

KINDS = ("ours", "peer", "ceiling")
# The ASGI server of deploy/cluster.py; ours runs with its exact command line.
DEPLOYED_SERVER = "uvicorn"
BIN = Path(PYTHON).parent


def ours_available() -> bool:
    """Whether the project's WebSocket consumer has routes yet."""
    routing = ROOT / "privatemessages" / "routing.py"
    consumers = ROOT / "privatemessages" / "consumers.py"
    return consumers.exists() and "as_asgi" in routing.read_text()


def command(kind: str, port: int, server: str) -> list[str]:
    if kind == "ceiling":
        return [PYTHON, "-m", "bench.chat.ceiling", "--port", str(port)]
    if kind == "ours" and server == DEPLOYED_SERVER:
        from deploy.cluster import server_command

        return server_command("127.0.0.1", port)
    # ours under daphne (--server daphne), to compare; the peer always.
    app = "myproject.asgi:application" if kind == "ours" else "bench.chat.peer.asgi:application"
    return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]


@dataclass
class ServerGroup:
    """P processes of one kind; use as a context manager (they die on exit)."""

    kind: str
    procs: int
    env: dict[str, str]
    server: str = DEPLOYED_SERVER
    ports: list[int] = field(default_factory=list)
    started: list[Started] = field(default_factory=list)

    def __enter__(self) -> "ServerGroup":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.started]

    def start(self, timeout: float = 60.0) -> None:
        start = {"ours": 18100, "peer": 18200, "ceiling": 18300}[self.kind]
        self.ports = free_ports(self.procs, start)
        env = dict(self.env)
        if self.kind == "peer":
            env["DJANGO_SETTINGS_MODULE"] = PEER_SETTINGS
        (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
        try:
            for port in self.ports:
                log = RESULTS / "logs" / f"{self.kind}-{port}.log"
                log.unlink(missing_ok=True)
                argv = command(self.kind, port, self.server)
                process = Started(argv, port=port, log=log, env=env)
                self.started.append(process.start(ports=[]))  # waited for below
            for process in self.started:
                process.wait_for_port(process.port, timeout)
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return all(p.running() for p in self.started)

    def stop(self) -> None:
        for p in self.started:  # all at once, then wait for each
            if p.running():
                signal_group(p.pid, signal.SIGTERM)
        for p in self.started:
            stop_group(p.process, 10, signum=None)
        self.started.clear()

    def cpu_seconds(self) -> float:
        return procstat.total_cpu(self.pids)

    def system_cpu_seconds(self) -> float:
        """The kernel's share of cpu_seconds() (syscalls, wake-ups)."""
        return sum(procstat.cpu_split(pid)[1] for pid in self.pids)

    def rss_bytes(self) -> int:
        return sum(procstat.rss_bytes(pid) for pid in self.pids)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"--- {p.log.name}\n{tail(p.log, lines)}" for p in self.started)


class Profiler:
    """py-spy sampling one server process for a while (collapsed stacks, GIL holder only)."""

    def __init__(self, pid: int, seconds: float, output: Path, rate: int = 200) -> None:
        exe = shutil.which("py-spy", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        self.output = output
        self.proc = None
        if exe is None:
            print("py-spy not found: pip install -r bench/requirements.txt", file=sys.stderr)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds))),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                # Only the thread holding the GIL: where the CPU goes, not
                # where threads wait.
                "--gil",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def finish(self, timeout: float = 30) -> dict | None:
        """Wait for py-spy and return the hottest functions, or None."""
        if self.proc is None:
            return None
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return None
        if self.proc.returncode != 0 or not self.output.exists():
            print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
            return None
        return summarize_profile(self.output)


def summarize_profile(path: Path, top: int = 20) -> dict:
    """Return self and inclusive sample shares of the hottest frames in *path*."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}
    return {
        "samples": total,
        "self": [(f, round(100 * n / total, 1)) for f, n in own.most_common(top)],
        "inclusive": [(f, round(100 * n / total, 1)) for f, n in inclusive.most_common(top * 2)],
        "file": str(path),
    }


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if parts else file
    return f"{name} ({short})"


def server_group(kind: str, args, env: dict[str, str]) -> ServerGroup:
    """The servers of *kind* as the command line asks (--procs, --server, --ours-env)."""
    return ServerGroup(
        kind,
        args.procs,
        {**env, **args.ours_env} if kind == "ours" else env,
        server=args.server if kind == "ours" else "daphne",
    )
