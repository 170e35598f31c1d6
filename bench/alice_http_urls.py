"""The project's URLs plus /bench/trivial/: a constant JSON answer, the ceiling of the stack."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

TRIVIAL_BODY = b'{"response":{"text":"ok","end_session":false},"version":"1.0"}'


@csrf_exempt
def trivial(request: HttpRequest) -> HttpResponse:
    """Read the body and answer a constant protocol response."""
    request.read()
    return HttpResponse(TRIVIAL_BODY, content_type="application/json; charset=utf-8")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("", include("myproject.urls")),
]
