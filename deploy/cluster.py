#!/usr/bin/env python3
"""
Run the site as N ASGI (uvicorn) processes on consecutive ports behind nginx.

    REDIS_URL=redis://127.0.0.1:6379/0 python deploy/cluster.py --processes 2

serves http://127.0.0.1:8080/ with uvicorn on 8001 and 8002. nginx balances
HTTP and WebSockets across the processes; Redis carries each chat message to
the sockets on every process. A uvicorn process that exits is started again
(kill one to see the chat reconnect and catch up); Ctrl+C stops everything.

The processes run with DEBUG=0 whatever the environment says (production_env in
deploy/supervisor.py): SECRET_KEY and ALLOWED_HOSTS from the environment, else a
key kept in the run directory and the addresses served. Static files are
collected into the run directory (or STATIC_ROOT) at each start. nginx speaks
plain HTTP: TLS goes in front of it. The nginx config is rendered from
deploy/nginx.conf.template into the run directory (deploy/run/ by default). See
docs/deploy.md.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from deploy.supervisor import (  # noqa: E402
    RecipeError,
    Supervisor,
    find_nginx,
    plain_http_warning,
    prepare_nginx,
    production_env,
    raise_open_files_limit,
    render_nginx_config,
)

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"

MIME_TYPES = """types {
    text/html html;
    text/css css;
    text/plain txt;
    application/javascript js mjs;
    application/json json map;
    image/svg+xml svg;
    image/png png;
    image/x-icon ico;
    font/woff2 woff2;
}
"""


def static_location(static_root: Path | None) -> str:
    """Return the nginx location block for /static/."""
    if static_root is None:
        # Django (WhiteNoise) serves /static/ through the upstreams.
        return "        # /static/ is served by Django (WhiteNoise)."
    return (
        "        location /static/ {\n"
        f"            alias {static_root}/;\n"
        "            expires 1h;\n"
        "        }"
    )


def server_command(host: str, port: int) -> list[str]:
    """
    Return the command line of one ASGI process. uvicorn rather than daphne
    (which `manage.py runserver` keeps using): daphne's WebSocket write path
    (autobahn and Twisted) cost several times uvicorn's CPU per delivered
    message (figures: bench/README.md, "Chat").
    """
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        host,
        "--port",
        str(port),
        # Named rather than "auto", so that what runs is what was measured. The
        # WebSocket protocol is uvicorn's websockets-sansio, keeping less per idle
        # socket (deploy/ws_protocol.py).
        *("--loop", "uvloop", "--http", "httptools"),
        *("--ws", "deploy.ws_protocol:LeanWebSocketsProtocol"),
        # daphne's limit, which docs/protocol.md promises: 1 MiB per frame.
        *("--ws-max-size", str(2**20)),
        # No permessage-deflate, which every browser offers: its compressor and
        # decompressor stay allocated for as long as the socket is open, more than
        # everything else an idle socket keeps, to save a few bytes on the chat's
        # short frames (figures: bench/README.md, "2026-12-01: idle memory per socket").
        *("--ws-per-message-deflate", "false"),
        # uvicorn's timed pings only for a socket the chat's keepalive does not
        # ping itself (base_consumer.BaseConsumer.connect: it pings at each
        # visit, in the visit's own write, which costs far less; figures:
        # bench/README.md, "the keepalive's pings"), e.g. one refused at once.
        *("--ws-ping-interval", "60", "--ws-ping-timeout", "30"),
        # Channels' router has no lifespan protocol.
        *("--lifespan", "off"),
        # Client addresses and scheme from nginx's X-Forwarded-* headers.
        *("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"),
        # nginx keeps the access log.
        "--no-access-log",
        # On SIGTERM, close the sockets (clients reconnect elsewhere) and exit.
        *("--timeout-graceful-shutdown", "5"),
        # myproject.asgi's application, with the garbage collector tuned.
        "deploy.asgi:application",
    ]


def manage(*args: str, env: dict[str, str]) -> None:
    """Run a manage.py command with the processes' environment *env*."""
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args], cwd=BASE_DIR, env=env, check=True
    )


def nginx_config(
    *, listen: str, ports: list[int], run_dir: Path, access_log: bool, static_root: Path | None
) -> str:
    """Return the nginx config for processes on *ports*, nginx listening on *listen*."""
    return render_nginx_config(
        TEMPLATE,
        listen=listen,
        upstreams=[f"127.0.0.1:{port}" for port in ports],
        run_dir=run_dir,
        access_log=access_log,
        mime_types=str(run_dir / "mime.types"),
        static_location=static_location(static_root),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", "-n", type=int, default=2, help="ASGI processes")
    parser.add_argument("--base-port", type=int, default=8001, help="port of the first one")
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--port", type=int, default=8080, help="port nginx listens on")
    parser.add_argument("--run-dir", type=Path, default=BASE_DIR / "deploy" / "run")
    parser.add_argument(
        "--static",
        choices=["nginx", "django"],
        default="nginx",
        help="nginx serves /static/ (default) or django: WhiteNoise serves it through the "
        "processes; collectstatic runs either way (DEBUG=0 serves only collected files)",
    )
    parser.add_argument("--no-migrate", action="store_true", help="skip manage.py migrate")
    parser.add_argument("--access-log", action="store_true", help="nginx access log in run dir")
    parser.add_argument(
        "--check", action="store_true", help="render and test the nginx config, then exit"
    )
    args = parser.parse_args()

    if args.processes > 1 and not os.environ.get("REDIS_URL"):
        parser.error(
            "REDIS_URL is not set: without Redis each process has its own in-memory "
            "channel layer and a message would reach only the sockets of its own process"
        )
    nginx = find_nginx()
    if nginx is None:
        parser.error("nginx is not installed (apt-get install nginx)")

    run_dir = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "mime.types").write_text(MIME_TYPES)
    try:
        env, notes = production_env(os.environ, run_dir=run_dir, host=args.host)
    except RecipeError as error:
        parser.error(str(error))
    # Collected into the run directory unless STATIC_ROOT says otherwise: a run of its own
    # does not rewrite the files another run (or the tests) serves.
    static_root = Path(env.setdefault("STATIC_ROOT", str(run_dir / "static"))).resolve()

    ports = [args.base_port + i for i in range(args.processes)]
    nginx_command = prepare_nginx(
        nginx,
        run_dir,
        nginx_config(
            listen=f"{args.host}:{args.port}",
            ports=ports,
            run_dir=run_dir,
            access_log=args.access_log,
            static_root=static_root if args.static == "nginx" else None,
        ),
    )
    config = run_dir / "nginx.conf"
    if args.check:
        print(f"cluster: {config} is valid", flush=True)
        return 0

    if not args.no_migrate:
        manage("migrate", "--no-input", env=env)
    # With DEBUG=0 the pages name static files by their hashed names from the manifest
    # collectstatic writes, and WhiteNoise serves only collected files.
    manage("collectstatic", "--no-input", "--verbosity", "0", env=env)

    url = f"http://{args.host}:{args.port}/"
    why_tls = [
        "DEBUG=0 makes the session and CSRF cookies Secure: a browser keeps them over plain",
        "HTTP only from a loopback address it treats as secure (Chromium does), so signing",
        "in anywhere else needs TLS.",
    ]
    for line in [*notes, *plain_http_warning(url, args.host, why_tls)]:
        print(f"cluster: {line}", flush=True)
    print(
        f"cluster: {url} -> uvicorn on ports {', '.join(map(str, ports))}, DEBUG=0 "
        f"(config {config})",
        flush=True,
    )
    limit_note = raise_open_files_limit()
    if limit_note:
        print(f"cluster: {limit_note}", flush=True)
    servers = {port: server_command("127.0.0.1", port) for port in ports}
    return Supervisor(servers, nginx_command, name="cluster", kind="uvicorn", env=env).run()


if __name__ == "__main__":
    sys.exit(main())
