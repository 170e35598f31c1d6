from django.urls import path

from . import views

app_name = "privatemessages"

urlpatterns = [
    path("", views.thread_list, name="thread_list"),
    path("chat/<int:thread_id>/", views.chat, name="chat"),
]
