from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.http import HttpRequest

from . import throttle

UserModel = get_user_model()


class ThrottledModelBackend(ModelBackend):
    """
    Django's ModelBackend, for every username-and-password log-in of the site
    (its pages and the admin's), with two changes against password guessing:

    - an attempt over the limits of accounts.throttle is refused before the
      user is looked up or the password hashed, so it costs neither a database
      connection nor a hash; the refusal is left on ``request.login_throttled``
      for the log-in page to explain;
    - the password is hashed after the connection has gone back to the pool,
      so that slow hashing never holds one of the few connections the pages
      of every other user need.

    It answers for every password it is given: a wrong one stops Django's
    chain of backends (PermissionDenied) instead of handing the same password
    to the next backend to hash again. ModelBackend stays listed after it only
    so that sessions logged in through it stay valid.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs,
    ):
        if username is None:
            username = kwargs.get(UserModel.USERNAME_FIELD)
        if username is None or password is None:
            return None
        if request is not None:
            refusal = throttle.attempt(request, username)
            if refusal is not None:
                request.login_throttled = refusal
                raise PermissionDenied
        user = self._check_password(username, password)
        if user is None:
            raise PermissionDenied
        if request is not None:
            throttle.succeeded(request, username)
        return user

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs,
    ):
        return await sync_to_async(self.authenticate)(request, username, password, **kwargs)

    def _check_password(self, username: str, password: str):
        try:
            user = UserModel._default_manager.get_by_natural_key(username)
        except UserModel.DoesNotExist:
            _release_connection()
            # Run the default password hasher once to reduce the timing
            # difference between an existing and a nonexistent user (#20760).
            UserModel().set_password(password)
            return None
        _release_connection()
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def _release_connection() -> None:
    """
    Give the user table's connection back to its pool, if it came from one and
    no transaction needs it; the next query takes one again.
    """
    connection = connections[router.db_for_read(UserModel)]
    if (
        connection.vendor == "postgresql"
        and connection.settings_dict["OPTIONS"].get("pool")
        and not connection.in_atomic_block
    ):
        connection.close()
