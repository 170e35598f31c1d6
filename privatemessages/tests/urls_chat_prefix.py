"""Another project's URLconf: the app mounted under /chat/ instead of /messages/."""

from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

urlpatterns = [
    path("accounts/", include("accounts.urls")),
    path("timezone/", include("timezones.urls")),
    path("chat/", include("privatemessages.urls")),
    # What the app's scripts and the page's language switcher need of any project.
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
]
