"""
An exhausted database connection pool is answered 503 with Retry-After at once
(myproject/overload.py), under WSGI and ASGI, logged once at WARNING.
"""

import logging
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import AsyncClient, Client
from psycopg_pool import ConnectionPool, PoolTimeout, TooManyRequests

from myproject.overload import is_pool_exhausted

pytestmark = pytest.mark.urls("accounts.tests.overload_urls")


def wrapped_pool_timeout() -> OperationalError:
    """The error as Django's PostgreSQL backend raises it: OperationalError from PoolTimeout."""
    try:
        raise OperationalError("couldn't get a connection") from PoolTimeout("after 3.00 sec")
    except OperationalError as exc:
        return exc


def test_what_counts_as_an_exhausted_pool():
    assert is_pool_exhausted(PoolTimeout("timeout"))
    assert is_pool_exhausted(TooManyRequests("too many"))
    assert is_pool_exhausted(wrapped_pool_timeout())
    assert not is_pool_exhausted(OperationalError("server closed the connection"))
    assert not is_pool_exhausted(ValueError("no"))


def check_503(response, caplog, *, json: bool = False) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    if json:
        assert response.json()["error"] == "overloaded"
    else:
        assert response["Content-Type"].startswith("text/html")
        assert "Сервер перегружен" in response.content.decode()
    logged = [r for r in caplog.records if r.name in {"myproject.overload", "django.request"}]
    assert [(r.name, r.levelno) for r in logged] == [("myproject.overload", logging.WARNING)]


def test_a_view_that_cannot_get_a_connection_gets_503(caplog):
    response = Client().get("/pool-timeout/")
    check_503(response, caplog)


def test_json_clients_get_json(caplog):
    response = Client().get("/pool-timeout/", headers={"Accept": "application/json"})
    check_503(response, caplog, json=True)


async def test_under_asgi_too(caplog):
    check_503(await AsyncClient().get("/pool-timeout/"), caplog)
    caplog.clear()
    check_503(await AsyncClient().get("/async-pool-timeout/"), caplog)


def test_other_database_errors_stay_500():
    client = Client(raise_request_exception=False)
    assert client.get("/other-database-error/").status_code == 500


@pytest.mark.django_db(transaction=True)
def test_the_pool_giving_up_on_getconn_is_503(caplog):
    """Through Django's own connect: the pool's getconn() raising, as when all are lent."""
    if not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("needs PostgreSQL with the connection pool (set DATABASE_URL)")
    connection.close()
    with mock.patch.object(
        ConnectionPool, "getconn", side_effect=PoolTimeout("couldn't get a connection")
    ):
        response = Client().get("/count-users/")
    check_503(response, caplog)
    assert Client().get("/count-users/").status_code == 200
