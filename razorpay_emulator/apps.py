from django.apps import AppConfig


class RazorpayEmulatorConfig(AppConfig):
    """Registered only so `manage.py razorpay_emulator` exists; it has no models and no URLs."""

    name = "razorpay_emulator"
    verbose_name = "Razorpay emulator (development and tests only)"
