from django.urls import path

from apps.payments import views

app_name = "payments"

urlpatterns = [
    path("checkout/<uuid:intent_id>/", views.checkout, name="checkout"),
    path("checkout/<uuid:intent_id>/pay/start/", views.start, name="start"),
    path("checkout/<uuid:intent_id>/pay/verify/", views.verify, name="verify"),
    path("checkout/<uuid:intent_id>/pay/status/", views.status, name="status"),
    path("payments/razorpay/webhook/", views.webhook, name="webhook"),
]
