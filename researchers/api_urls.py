from django.urls import path

from researchers import api_views

urlpatterns = [
    path("me", api_views.me, name="me"),
]
