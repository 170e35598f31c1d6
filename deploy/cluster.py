#!/usr/bin/env python3
"""
Run the site as N ASGI (uvicorn) processes on consecutive ports behind nginx.

    REDIS_URL=redis://127.0.0.1:6379/0 python deploy/cluster.py --processes 2

serves http://127.0.0.1:8080/ with uvicorn on 8001 and 8002. nginx balances
HTTP and WebSockets across the processes; Redis carries each chat message to
the sockets on every process. A uvicorn process that exits is started again
(kill one to see the chat reconnect and catch up); Ctrl+C stops everything.

The nginx config is rendered from deploy/nginx.conf.template into the run
directory (deploy/run/ by default). See docs/deploy.md.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from deploy.supervisor import (  # noqa: E402
    Supervisor,
    find_nginx,
    prepare_nginx,
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
    (which `manage.py runserver` keeps using): measured in bench/ (README
    "Chat"), daphne's WebSocket write path (autobahn and Twisted) cost about
    twice uvicorn's CPU per delivered message.
    """
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        host,
        "--port",
        str(port),
        # Named rather than "auto", so that what runs is what was measured.
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"),
        # daphne's limit, which docs/protocol.md promises: 1 MiB per frame.
        *("--ws-max-size", str(2**20)),
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


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], cwd=BASE_DIR, check=True)


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
        help="nginx: collectstatic, then nginx serves /static/ (default); "
        "django: WhiteNoise serves it through the processes",
    )
    parser.add_argument("--no-migrate", action="store_true", help="skip manage.py migrate")
    parser.add_argument("--access-log", action="store_true", help="nginx access log in run dir")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
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

    if not args.no_migrate:
        manage("migrate", "--no-input")
    static_root = None
    if args.static == "nginx":
        manage("collectstatic", "--no-input", "--verbosity", "0")
        from django.conf import settings

        static_root = Path(settings.STATIC_ROOT).resolve()

    ports = [args.base_port + i for i in range(args.processes)]
    nginx_command = prepare_nginx(
        nginx,
        run_dir,
        render_nginx_config(
            TEMPLATE,
            listen=f"{args.host}:{args.port}",
            upstreams=[f"127.0.0.1:{port}" for port in ports],
            run_dir=run_dir,
            access_log=args.access_log,
            mime_types=str(run_dir / "mime.types"),
            static_location=static_location(static_root),
        ),
    )
    config = run_dir / "nginx.conf"

    print(
        f"cluster: http://{args.host}:{args.port}/ -> uvicorn on ports "
        f"{', '.join(map(str, ports))} (config {config})",
        flush=True,
    )
    servers = {port: server_command("127.0.0.1", port) for port in ports}
    return Supervisor(servers, nginx_command, name="cluster", kind="uvicorn").run()


if __name__ == "__main__":
    sys.exit(main())
