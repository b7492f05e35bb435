from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares and no app owns: the base application error, the one mapper from an
    error to an HTTP answer, the request helpers, the clock, pre-built pages, the outbox and the
    ops audit log. It imports no other app."""

    name = "apps.core"
    label = "core"
    verbose_name = "Operations"
