"""
What the Alice benchmarks share: the README dialog and its requests, alice_scripts itself,
the servers under test and the HTTP load client.

alice_scripts 0.2.post1 is the original engine measured against. It imports pymorphy2, which
calls ``inspect.getargspec``, gone in Python 3.11: ``alice_scripts_skill()`` adds it back
(bench only) before importing it. Gunicorn serves that skill with
``gunicorn 'bench.alice_common:alice_scripts_skill()'``.
"""

import asyncio
import inspect
import json
import os
import re
import resource
import subprocess
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from bench import common
from bench.common import HOST, RESULTS, ROOT
from deploy.alice.cluster import DEFAULT_THREADS, server_command
from deploy.processes import Started, free_port

DEPLOYED_APP = "myproject.wsgi:application"
APPS = {
    "webhook": DEPLOYED_APP,
    "alice_scripts": "bench.alice_common:alice_scripts_skill()",
    "trivial": "bench.alice_http_wsgi:trivial",
}
STORES = {
    "memory": "alice.engine.storage.MemorySessionStore",
    "redis": "alice.engine.redis_store.RedisSessionStore",
    "db": "alice.db_store.DatabaseSessionStore",
}
WITHOUT_ENV = ("REDIS_URL", "REDIS_KEY_PREFIX", "DATABASE_URL", "ALICE_SESSION_STORE")
PLACEHOLDER = "@SESSION@"

# The README example as this project serves it; alice_scripts runs the same file, but for
# its import line, so that both engines answer one script.
README_SCRIPT_PATH = ROOT / "alice" / "scripts" / "acquaintance.py"
PROJECT_IMPORT = "from alice import Skill, request, say, suggest"

# (command, original_utterance) of each turn, as Alice sends them.
TURNS = [("", ""), ("саша", "Саша."), ("25", "25"), ("обожаю кошечек", "Обожаю кошечек")]
FINAL_TEXT = "Рада познакомиться, саша! Когда вам исполнится 26, я могу подарить котёнка!"


def request_body(session_id: str, message_id: int, command: str, utterance: str) -> bytes:
    """Return one protocol request of the dialog, as Alice sends it, encoded."""
    nlu = {"tokens": command.split(), "entities": [], "intents": {}}
    request = {"command": command, "original_utterance": utterance, "type": "SimpleUtterance"}
    session = {"message_id": message_id, "session_id": session_id, "skill_id": "bench-skill"}
    session |= {"user_id": "BENCH-USER", "application": {"application_id": "BENCH-USER"}}
    session |= {"user": {"user_id": "BENCH-ACCOUNT", "access_token": "secret"}}
    meta = {"locale": "ru-RU", "timezone": "Europe/Moscow", "client_id": "bench"}
    data = {"meta": meta | {"interfaces": {"screen": {}}}, "version": "1.0"}
    data["request"] = request | {"markup": {"dangerous_context": False}, "nlu": nlu}
    data["session"] = session | {"new": message_id == 0}
    data["state"] = {"session": {}, "user": {}, "application": {}}
    return json.dumps(data, ensure_ascii=False).encode()


def dialogs(prefix: str, count: int) -> list[list[bytes]]:
    """Return *count* dialogs of encoded requests, each in a session of its own."""
    return [
        [request_body(f"{prefix}-{n:08d}", i, *turn) for i, turn in enumerate(TURNS)]
        for n in range(count)
    ]


@cache
def alice_scripts_skill() -> Any:
    """Return the README script on alice_scripts: a Flask app (a WSGI application)."""
    # pymorphy2 (which alice_scripts imports) calls inspect.getargspec, gone in Python 3.11.
    if not hasattr(inspect, "getargspec"):
        inspect.getargspec = lambda func: inspect.getfullargspec(func)[:4]  # type: ignore[attr-defined]
    module = types.ModuleType("readme_on_alice_scripts")
    module.__file__ = __file__
    sys.modules[module.__name__] = module
    source = README_SCRIPT_PATH.read_text()
    if PROJECT_IMPORT not in source:
        raise RuntimeError(f"{README_SCRIPT_PATH} no longer imports with {PROJECT_IMPORT!r}")
    source = source.replace(PROJECT_IMPORT, PROJECT_IMPORT.replace("alice", "alice_scripts", 1))
    exec(compile(source, "<README on alice_scripts>", "exec"), module.__dict__)
    return module.skill


def production_env(**extra: str) -> dict[str, str]:
    """As a production webhook runs: DEBUG off, HTTPS left to the proxy, no Redis or database."""
    env = {k: v for k, v in os.environ.items() if k not in WITHOUT_ENV}
    env.update(DEBUG="0", SECRET_KEY=os.urandom(32).hex(), ALLOWED_HOSTS=HOST)
    env.update(SECURE_SSL_REDIRECT="0", LOG_LEVEL="WARNING")
    return env | {"DJANGO_SETTINGS_MODULE": "myproject.settings"} | extra


# The load client (its own process: python -m bench.alice_common '<json>').


class Connection(asyncio.Protocol):
    """One keep-alive connection that sends a request and waits for its response."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.waiter: asyncio.Future | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:  # httptools' callbacks
        self.body.append(body)

    def on_message_complete(self) -> None:
        answer, self.body = (self.parser.get_status_code(), b"".join(self.body)), []
        if not self.parser.should_keep_alive():
            self.transport.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def send(self, data: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


async def run_client(config: dict[str, Any]) -> dict[str, Any]:
    """
    Run dialogs on *concurrency* sessions for *seconds*, request i of a dialog to port
    i % len(ports) (a round robin, with several); return counts and latencies.
    """
    loop, ports, path = asyncio.get_running_loop(), config["ports"], config["path"]
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
    templates = [request_body(PLACEHOLDER, i, *turn) for i, turn in enumerate(TURNS)]
    latencies: list[int] = []
    counts = Counter()

    async def connect(port: int) -> Connection:
        return (await loop.create_connection(Connection, HOST, port))[1]

    async def sessions(index: int, conns: list[Connection]) -> None:
        clock, dialog = time.perf_counter_ns, 0
        while clock() < deadline:
            session_id = f"{config['prefix']}-{index:04d}-{dialog:06d}".encode()
            dialog += 1
            for i, template in enumerate(templates):
                body = template.replace(PLACEHOLDER.encode(), session_id)
                data = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
                slot, t0 = i % len(ports), clock()
                try:
                    if conns[slot].transport.is_closing():
                        conns[slot] = await connect(ports[slot])
                    status, answer = await conns[slot].send(data)
                except ConnectionError:
                    counts["errors"] += 1
                    conns[slot] = await connect(ports[slot])
                    break
                latencies.append((clock() - t0) // 1000)
                if status != 200:
                    counts["errors"] += 1
                    counts[f"status_{status}"] += 1
                    break
            else:
                counts["dialogs"] += 1
                response = json.loads(answer)["response"]
                ok = response["text"] == FINAL_TEXT and response["end_session"]
                counts["bad_dialogs"] += config["check"] and not ok
        for conn in conns:
            conn.transport.close()

    conns = [await asyncio.gather(*map(connect, ports)) for _ in range(config["concurrency"])]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter_ns()
    deadline = started + int(config["seconds"] * 1e9)
    tasks = (sessions(i, list(c)) for i, c in enumerate(conns))
    await asyncio.wait_for(asyncio.gather(*tasks), config["seconds"] + 30)
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "requests": len(latencies),
        "elapsed": (time.perf_counter_ns() - started) / 1e9,
        "client_cpu": used.ru_utime + used.ru_stime - usage.ru_utime - usage.ru_stime,
        "latencies_us": latencies,
        **counts,
    }


def client_main(config: dict[str, Any]) -> None:
    if config.get("cpu") is not None:
        os.sched_setaffinity(0, {config["cpu"]})
    # To a file, not stdout: a result of a few hundred kilobytes written to the pipe came
    # back cut at a 32 KiB boundary now and then.
    Path(config["output"]).write_text(json.dumps(common.run_async(run_client(config))))


# The servers.


class Server(Started):
    """One target's server (``kind[:store][@granian|threads]``) on a free port."""

    SPEC = re.compile(r"(webhook|alice_scripts|trivial)(?::(memory|redis|db))?(?:@(\d+|granian))?")

    def __init__(self, spec: str, env: Callable[[str | None], dict], cpu=None, threads=8):
        match = self.SPEC.fullmatch(spec)
        if not match or (match[2] and match[1] != "webhook"):
            raise SystemExit(f"unknown target {spec!r}: kind[:store][@granian|threads]")
        self.spec, self.kind = spec, match[1]
        self.store = match[2] or ("memory" if self.kind == "webhook" else None)
        # The webhook and its ceiling run as deployed (granian); alice_scripts as its README
        # deploys it (gunicorn).
        self.server = match[3] or ("granian" if self.kind != "alice_scripts" else str(threads))
        self.path = "/alice/" if self.kind == "webhook" else "/"
        slug = re.sub(r"[^\w+-]", "-", spec)
        self.slug, port = slug, free_port()
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        log = RESULTS / "logs" / f"alice-http-{slug}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        command, env = self.argv(port), env(self.store)
        super().__init__(command, port=port, log=log, env=env, preexec_fn=pin)

    def argv(self, port: int) -> list[str]:
        app = APPS[self.kind]
        if self.server == "granian":  # deploy/alice/cluster.py's, with this target's app
            command = server_command(port, threads=DEFAULT_THREADS)
            command[command.index(DEPLOYED_APP)] = app
            return command
        return [
            *(str(common.BIN / "gunicorn"), app, "--bind", f"{HOST}:{port}", "--workers", "1"),
            *("-k", "gthread", "--threads", self.server),
            *("--log-level", "warning", "--error-logfile", "-"),
        ]

    def cpu_seconds(self) -> float:
        return common.cpu_seconds(*common.tree(self.pid))

    def store_class(self) -> str:
        """The class of the session store the webhook's skill gets under this server's env."""
        code = "import django; django.setup(); from alice.scripts.acquaintance import skill as s"
        code += "; print(type(s.store).__module__ + '.' + type(s.store).__qualname__)"
        run = [sys.executable, "-c", code]
        done = subprocess.run(run, cwd=ROOT, env=self.env, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else f"? {done.stderr[-200:]}"


def run_load(
    servers: list[Server], concurrency: int, seconds: float, prefix: str, cpu: int | None = None
) -> dict[str, Any]:
    """Drive *servers* (a round robin, with several) from a client process."""
    output = RESULTS / "logs" / f"client-{os.getpid()}.json"
    config = {"ports": [s.port for s in servers], "path": servers[0].path, "cpu": cpu}
    config |= {"concurrency": concurrency, "seconds": seconds, "prefix": prefix}
    config |= {"check": servers[0].kind != "trivial", "output": str(output)}
    before = sum(s.cpu_seconds() for s in servers)
    command = [sys.executable, "-m", "bench.alice_common", json.dumps(config)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
    server_cpu = sum(s.cpu_seconds() for s in servers) - before
    if done.returncode != 0:
        raise SystemExit(f"client against {servers[0].spec} failed:\n{done.stderr}")
    result = json.loads(output.read_text())
    output.unlink()
    return result | {"server_cpu": server_cpu}


if __name__ == "__main__":
    client_main(json.loads(sys.argv[1]))
