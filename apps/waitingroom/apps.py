from django.apps import AppConfig


class WaitingRoomConfig(AppConfig):
    name = "apps.waitingroom"
    label = "waitingroom"
    verbose_name = "Waiting room"

    def ready(self):
        from apps.waitingroom import receivers  # noqa: F401 - connects the signal receivers
