from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Plumbing every app may use (the outbox, the ops audit log); it imports none of them."""

    name = "apps.core"
    label = "core"
    verbose_name = "Operations"
