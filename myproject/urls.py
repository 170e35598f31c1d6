from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from myproject.i18n import javascript_catalog

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="privatemessages:thread_list")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("messages/", include("privatemessages.urls")),
    # The restart of a skill conversation, beside the chat it belongs to
    # (messages/chat/<id>/restart/); privatemessages knows nothing of skills.
    path("messages/", include("skillchat.urls")),
    # The zone picker's old address, for links and bookmarks made before.
    path(
        "messages/timezone/",
        RedirectView.as_view(pattern_name="timezones:choose", permanent=True, query_string=True),
    ),
    path("timezone/", include("timezones.urls")),
    path("alice/", include("alice.urls")),
    # The header's language switcher posts here (Django's set_language).
    path("i18n/", include("django.conf.urls.i18n")),
    # gettext()/ngettext()/interpolate() for the scripts, in the page's language.
    path("jsi18n/", javascript_catalog, name="javascript-catalog"),
]
