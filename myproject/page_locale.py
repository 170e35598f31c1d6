"""LocaleMiddleware for the pages only: the Alice webhooks skip it."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware

from alice.wsgi_mount import webhook_routes


class PageLocaleMiddleware(LocaleMiddleware):
    """
    Django's LocaleMiddleware (the language of the cookie, else Accept-Language),
    except on the webhook paths the URLconf mounts (alice.wsgi_mount.webhook_routes):
    a skill speaks Russian whatever the request says, and the middleware's work is
    a measurable share of a webhook request through Django (bench/README.md,
    "Pages and languages"). Under WSGI the router answers those paths before any
    middleware; this keeps them as lean under ASGI and runserver.
    """

    def __init__(self, get_response: Callable) -> None:
        super().__init__(get_response)
        self.webhook_paths = frozenset(webhook_routes())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in self.webhook_paths:
            # A response, or under ASGI the coroutine of one: the caller awaits it.
            return self.get_response(request)
        return super().__call__(request)
