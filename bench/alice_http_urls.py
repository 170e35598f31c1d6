"""
The project's URLs, then /bench/trivial/: a constant JSON answer through Django's handler.

The project's patterns come first and unchanged, so /alice/ resolves exactly as deployed;
the trivial endpoint is tried after them all.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.alice_http_wsgi import TRIVIAL_BODY
from myproject.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def trivial(request: HttpRequest) -> HttpResponse:
    """Read the body and answer a constant protocol response."""
    request.read()
    return HttpResponse(TRIVIAL_BODY, content_type="application/json; charset=utf-8")


urlpatterns = [*project_urlpatterns, path("bench/trivial/", trivial)]
