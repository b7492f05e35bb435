"""Mounted under /admin/ops/ (booking_site/urls.py), every view behind the admin's login check."""

from django.contrib import admin
from django.urls import path

from apps.ops import views

app_name = "ops"
urlpatterns = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("dashboard/<int:event_id>/", admin.site.admin_view(views.dashboard), name="event_dashboard"),
    path("dashboard/figures.json", admin.site.admin_view(views.figures_json), name="figures"),
]
