from django.urls import path

from . import api, page_api, views

app_name = "privatemessages"

urlpatterns = [
    path("", views.thread_list, name="thread_list"),
    path("chat/<int:thread_id>/", views.chat, name="chat"),
    path("chat/<int:thread_id>/send/", views.chat_send, name="chat_send"),
    path("chat/<int:thread_id>/history/", page_api.history, name="history"),
    path("users/", page_api.user_search, name="user_search"),
    path("settings/", views.chat_settings, name="settings"),
    path("settings/notifications/", page_api.notifications, name="notifications"),
    path("send_message/", views.send_message, name="send_message"),
    path("send_message_api/<int:thread_id>/", api.send_message_api, name="send_message_api"),
]
