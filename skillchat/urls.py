from django.urls import path

from . import views

app_name = "skillchat"

# Included under messages/ by the project, beside privatemessages' own URLs (which know
# nothing of skills).
urlpatterns = [
    path("chat/<int:thread_id>/restart/", views.restart, name="restart"),
]
