from django.urls import path

from . import api, views

app_name = "privatemessages"

urlpatterns = [
    path("", views.thread_list, name="thread_list"),
    path("chat/<int:thread_id>/", views.chat, name="chat"),
    path("chat/<int:thread_id>/send/", views.chat_send, name="chat_send"),
    path("send_message/", views.send_message, name="send_message"),
    path("send_message_api/<int:thread_id>/", api.send_message_api, name="send_message_api"),
]
