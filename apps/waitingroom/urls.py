from django.urls import path

from apps.waitingroom import views

app_name = "waitingroom"

urlpatterns = [
    path("queue/<slug:slug>/", views.queue_page, name="queue"),
    path("queue/<slug:slug>/status", views.queue_status, name="status"),
    path("queue/<slug:slug>/place", views.queue_place, name="place"),
]
