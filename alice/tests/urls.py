"""URLs for the webhook tests: the shipped skills plus the misbehaving ones."""

from django.urls import include, path

from alice.tests import skills
from alice.views import webhook_view

urlpatterns = [
    path("alice/", include("alice.urls")),
    path("test/counter/", webhook_view(skills.counter)),
    path("test/slow/", webhook_view(skills.slow_counter)),
    path("test/failing/", webhook_view(skills.failing)),
    path("test/unfinished/", webhook_view(skills.unfinished)),
]
