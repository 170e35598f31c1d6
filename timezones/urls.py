from django.urls import path

from . import views

app_name = "timezones"

urlpatterns = [
    path("", views.choose_timezone, name="choose"),
]
