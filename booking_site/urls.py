from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from booking_site import metrics, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("healthz/beat", views.beat_health, name="beat_health"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus (bearer token: METRICS_TOKEN)
    # Browsers ask for /favicon.ico whatever a page links: the SVG (its hashed name, resolved at
    # the first request, once the static manifest exists).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
    path("admin/ops/", include("apps.ops.urls")),  # the drop dashboard (staff: the admin's login check)
    path("admin/", admin.site.urls),
    path("", include("apps.payments.urls")),
    path("", include("apps.waitingroom.urls")),
    path("", include("apps.booking.urls")),
]
