"""Another project's URLconf: the app mounted under /chat/ instead of /messages/."""

from django.urls import include, path

urlpatterns = [
    path("accounts/", include("accounts.urls")),
    path("timezone/", include("timezones.urls")),
    path("chat/", include("privatemessages.urls")),
]
