"""
What the Alice benchmarks share: the README dialog and its requests, the servers under test
(the webhook, alice_scripts and a trivial endpoint) and the HTTP load client.

alice_scripts 0.2.post1 is the original engine measured against; its pymorphy2 calls
``inspect.getargspec`` (gone in Python 3.11), which ``alice_scripts_skill()`` adds back.
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
    "trivial": "bench.alice_common:trivial",
}
# The durable peer (bench/alice_aliceio.py) runs in a virtualenv of its own: aliceio's pins
# (redis<5.1, aiohttp, pydantic) conflict with the project's.
ALICEIO_VENV = ROOT / ".venv-bench-aliceio"
ALICEIO_REQUIREMENTS = ROOT / "bench" / "requirements-aliceio.txt"
MEMORY_STORE = "alice.engine.storage.MemorySessionStore"
# The README example as this project serves it; alice_scripts runs the same file, but for
# its import line, so that both engines answer one script.
README_SCRIPT_PATH = ROOT / "alice" / "scripts" / "acquaintance.py"
PROJECT_IMPORT = "from alice import Skill, request, say, suggest"
# (command, original_utterance) of each turn, as Alice sends them.
TURNS = [("", ""), ("саша", "Саша."), ("25", "25"), ("обожаю кошечек", "Обожаю кошечек")]
FINAL_TEXT = "Рада познакомиться, саша! Когда вам исполнится 26, я могу подарить котёнка!"
# The dialog with both retries (a non-number age, then no pet named), to compare engines'
# answers turn by turn before timing them.
TRANSCRIPT_TURNS = [
    *TURNS[:2],
    ("двадцать пять", "Двадцать пять."),
    *TURNS[2:3],
    ("не знаю", "Не знаю."),
    ("люблю собак", "Люблю собак"),
]
TRIVIAL_BODY = b'{"response":{"text":"ok","end_session":false},"version":"1.0"}'


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


@cache
def alice_scripts_skill() -> Any:
    """Return the README script on alice_scripts: a Flask app (a WSGI application)."""
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


def trivial(environ: dict, start_response) -> list[bytes]:
    """The ceiling: read the body, answer a constant protocol response (plain WSGI)."""
    environ["wsgi.input"].read()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(TRIVIAL_BODY)))]
    start_response("200 OK", headers)
    return [TRIVIAL_BODY]


def production_env(**extra: str) -> dict[str, str]:
    """As a production webhook runs: DEBUG off, HTTPS left to the proxy, no Redis or database."""
    without = ("REDIS_URL", "REDIS_KEY_PREFIX", "DATABASE_URL", "ALICE_SESSION_STORE")
    env = {k: v for k, v in os.environ.items() if k not in without}
    env.update(DEBUG="0", SECRET_KEY=os.urandom(32).hex(), ALLOWED_HOSTS=HOST, LOG_LEVEL="WARNING")
    env.update(SECURE_SSL_REDIRECT="0", DJANGO_SETTINGS_MODULE="myproject.settings")
    return env | extra


# The load client (its own process: python -m bench.alice_common '<json>').


class Connection(asyncio.Protocol):
    """One keep-alive connection that sends a request and waits for its response."""

    def __init__(self) -> None:
        import httptools

        self.parser, self.body, self.waiter = httptools.HttpResponseParser(self), [], None

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
    templates = [request_body("@SESSION@", i, *turn) for i, turn in enumerate(TURNS)]
    latencies, counts, clock = [], Counter(), time.perf_counter_ns

    async def connect(port: int) -> Connection:
        return (await loop.create_connection(Connection, HOST, port))[1]

    async def sessions(index: int, conns: list[Connection]) -> None:
        dialog = 0
        while clock() < deadline:
            session_id = f"{config['prefix']}-{index:04d}-{dialog:06d}".encode()
            dialog += 1
            for i, template in enumerate(templates):
                body = template.replace(b"@SESSION@", session_id)
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
                    break
            else:
                counts["dialogs"] += 1
                response = json.loads(answer)["response"]
                ok = response["text"] == FINAL_TEXT and response["end_session"]
                counts["bad_dialogs"] += config["check"] and not ok
        for conn in conns:
            conn.transport.close()

    conns = [await asyncio.gather(*map(connect, ports)) for _ in range(config["concurrency"])]
    usage, started = resource.getrusage(resource.RUSAGE_SELF), clock()
    deadline = started + int(config["seconds"] * 1e9)
    tasks = (sessions(i, list(c)) for i, c in enumerate(conns))
    await asyncio.wait_for(asyncio.gather(*tasks), config["seconds"] + 30)
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "requests": len(latencies),
        "elapsed": (clock() - started) / 1e9,
        "client_cpu": used.ru_utime + used.ru_stime - usage.ru_utime - usage.ru_stime,
        "latencies_us": latencies,
        **counts,
    }


# The servers.


class Server(Started):
    """One target's server (``kind[:store][@granian|threads]``) on a free port."""

    SPEC = re.compile(
        r"(webhook|alice_scripts|aliceio|trivial)(?::(memory|redis|db))?(?:@(\d+|granian))?"
    )

    def __init__(self, spec: str, env: Callable[[str | None], dict]):
        match = self.SPEC.fullmatch(spec)
        if not match or (match[2] and match[1] != "webhook"):
            raise SystemExit(f"unknown target {spec!r}: kind[:store][@granian|threads]")
        self.spec, self.kind, port = spec, match[1], free_port()
        self.store = match[2] or {"webhook": "memory", "aliceio": "redis"}.get(self.kind)
        # The webhook and its ceiling run as deployed (granian); alice_scripts as its README
        # deploys it (gunicorn).
        server = match[3] or ("granian" if self.kind != "alice_scripts" else "8")
        self.path = "/alice/" if self.kind == "webhook" else "/"
        self.slug = re.sub(r"[^\w+-]", "-", spec)
        if self.kind == "aliceio":  # on aiohttp's server, as aliceio's docs deploy it
            if match[3]:
                raise SystemExit(f"{spec!r}: aliceio runs on its own server")
            command = [str(aliceio_python()), str(ROOT / "bench" / "alice_aliceio.py")]
            command += ["--host", HOST, "--port", str(port)]
        elif server == "granian":  # deploy/alice/cluster.py's, with this target's app
            command = server_command(port, threads=DEFAULT_THREADS)
            command[command.index(DEPLOYED_APP)] = APPS[self.kind]
        else:
            command = [str(common.BIN / "gunicorn"), APPS[self.kind], "--bind", f"{HOST}:{port}"]
            command += ["--workers", "1", "-k", "gthread", "--threads", server]
            command += ["--log-level", "warning", "--error-logfile", "-"]
        log = RESULTS / "logs" / f"alice-http-{self.slug}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(command, port=port, log=log, env=env(self.store))

    def cpu_seconds(self) -> float:
        return common.cpu_seconds(*common.tree(self.pid))

    def store_class(self) -> str:
        """The class of the session store the webhook's skill gets under this server's env."""
        if self.kind == "aliceio":
            return "aliceio.fsm.storage.redis.RedisStorage"
        code = "import django; django.setup(); from alice.scripts.acquaintance import skill as s"
        code += "; print(type(s.store).__module__ + '.' + type(s.store).__qualname__)"
        run = [sys.executable, "-c", code]
        done = subprocess.run(run, cwd=ROOT, env=self.env, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else f"? {done.stderr[-200:]}"


def transcript(server: Server, session_id: str) -> list[tuple]:
    """Play TRANSCRIPT_TURNS to *server*; return each answer's text, buttons and end."""
    import urllib.request

    answers = []
    for i, turn in enumerate(TRANSCRIPT_TURNS):
        request = urllib.request.Request(
            f"http://{HOST}:{server.port}{server.path}",
            data=request_body(session_id, i, *turn),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            response = json.loads(reply.read())["response"]
        buttons = tuple(button["title"] for button in response.get("buttons") or ())
        answers.append((response["text"], buttons, bool(response.get("end_session"))))
    return answers


def aliceio_python() -> Path:
    """Return the aliceio virtualenv's python, making the virtualenv first if need be."""
    python, stamp = ALICEIO_VENV / "bin" / "python", ALICEIO_VENV / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < ALICEIO_REQUIREMENTS.stat().st_mtime:
        print(f"making {ALICEIO_VENV.name} ({ALICEIO_REQUIREMENTS.name})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ALICEIO_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(ALICEIO_REQUIREMENTS)]
        subprocess.run(pip, check=True)
        stamp.touch()
    return python


def run_load(servers: list, concurrency: int, seconds: float, prefix: str, strict=False):
    """Drive *servers* (a round robin, with several) from a client process; *strict*: stop
    at the first failed request or wrong dialog."""
    output = RESULTS / "logs" / f"client-{os.getpid()}.json"
    config = {"ports": [s.port for s in servers], "path": servers[0].path, "prefix": prefix}
    config |= {"concurrency": concurrency, "seconds": seconds, "output": str(output)}
    config["check"] = servers[0].kind != "trivial"
    before = sum(s.cpu_seconds() for s in servers)
    command = [sys.executable, "-m", "bench.alice_common", json.dumps(config)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
    server_cpu = sum(s.cpu_seconds() for s in servers) - before
    if done.returncode != 0:
        raise SystemExit(f"client against {servers[0].spec} failed:\n{done.stderr}")
    result = json.loads(output.read_text()) | {"server_cpu": server_cpu}
    output.unlink()
    failed = not result["requests"] or result.get("errors") or result.get("bad_dialogs")
    if strict and failed:
        result.pop("latencies_us")
        raise SystemExit(f"{servers[0].spec} fails: {result}\n{servers[0].log_tail(20)}")
    return result


if __name__ == "__main__":
    # The result to a file, not stdout: a few hundred kilobytes written to the pipe came back
    # cut at a 32 KiB boundary now and then.
    config = json.loads(sys.argv[1])
    Path(config["output"]).write_text(json.dumps(common.run_async(run_client(config))))
