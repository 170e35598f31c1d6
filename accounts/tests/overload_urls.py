"""Views that run out of database connections, for test_overload.py."""

from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from psycopg_pool import PoolTimeout


def pool_timeout(request: HttpRequest) -> HttpResponse:
    # As Django's backend does when the pool's getconn() gives up.
    with connection.wrap_database_errors:
        raise PoolTimeout("couldn't get a connection after 3.00 sec")


async def async_pool_timeout(request: HttpRequest) -> HttpResponse:
    return pool_timeout(request)


def other_database_error(request: HttpRequest) -> HttpResponse:
    raise OperationalError("server closed the connection unexpectedly")


def count_users(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(get_user_model().objects.count()))


urlpatterns = [
    path("pool-timeout/", pool_timeout),
    path("async-pool-timeout/", async_pool_timeout),
    path("other-database-error/", other_database_error),
    path("count-users/", count_users),
]
