from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from booking_site import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("healthz/beat", views.beat_health, name="beat_health"),
    # Browsers ask for /favicon.ico whatever a page links: the SVG (its hashed name, resolved at
    # the first request, once the static manifest exists).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
    path("admin/", admin.site.urls),
    path("", include("apps.payments.urls")),
    path("", include("apps.waitingroom.urls")),
    path("", include("apps.booking.urls")),
]
