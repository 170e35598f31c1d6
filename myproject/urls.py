from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="privatemessages:thread_list")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("messages/", include("privatemessages.urls")),
    # The zone picker's old address, for links and bookmarks made before.
    path(
        "messages/timezone/",
        RedirectView.as_view(pattern_name="timezones:choose", permanent=True, query_string=True),
    ),
    path("timezone/", include("timezones.urls")),
    path("alice/", include("alice.urls")),
]
