from django.contrib import admin
from django.urls import include, path

from booking_site import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("healthz/beat", views.beat_health, name="beat_health"),
    path("admin/", admin.site.urls),
    path("", include("apps.payments.urls")),
    path("", include("apps.waitingroom.urls")),
    path("", include("apps.booking.urls")),
]
