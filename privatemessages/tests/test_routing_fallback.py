"""
A WebSocket handshake to a path no route takes is refused at the handshake
(HTTP 403 from the server), logged as information, with no traceback.
"""

import asyncio
import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

# Imported before any test runs: its django.setup() configures logging anew,
# which would drop the handler that caplog adds.
import myproject.asgi  # noqa: F401
from privatemessages.tests.realtime_fixtures import TIMEOUT, communicator, needs_real_services
from privatemessages.tests.servers import ServerProcess, free_port, server_env

pytestmark = pytest.mark.django_db(transaction=True)

UNROUTED = ["/ws/messages/abc/", "/ws/nothing/", "/ws/messages/1/extra/", "/", "/ws/messages"]


@pytest.mark.parametrize("path", UNROUTED)
async def test_an_unrouted_path_is_refused_at_the_handshake(path, caplog):
    caplog.set_level(logging.INFO)
    comm = communicator(path)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert not connected
    # The application finished cleanly: no exception to re-raise here.
    await comm.wait(timeout=TIMEOUT)
    refusals = [r for r in caplog.records if "no route" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.INFO]
    assert all(r.levelno < logging.ERROR and r.exc_info is None for r in caplog.records)


async def test_routed_paths_still_reach_their_consumers():
    for path in ("/ws/messages/", "/ws/messages/1/"):
        comm = communicator(path)
        connected, _ = await comm.connect(timeout=TIMEOUT)
        assert connected  # anonymous: accepted, then closed with the consumer's code
        await comm.disconnect()


@needs_real_services()
@pytest.mark.servers
async def test_a_real_server_answers_403_and_logs_no_traceback(tmp_path):
    server = ServerProcess(free_port(), tmp_path, server_env(LOG_LEVEL="INFO"))
    await asyncio.to_thread(server.start)
    try:
        for path in ("/ws/messages/abc/", "/ws/nothing/"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{server.ws_url}{path}", origin=server.http_url):
                    pass
            assert refused.value.response.status_code == 403
    finally:
        await asyncio.to_thread(server.stop)
    log = server.log.read_text(errors="replace")
    assert "no route for '/ws/nothing/'" in log
    assert "Traceback" not in log
    assert " ERROR " not in log
