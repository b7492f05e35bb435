from django.conf import settings
from django.db import migrations


def create_rooms(apps, schema_editor):
    """Events created before the waiting room existed get one too (the default mode)."""
    Event = apps.get_model("booking", "Event")
    WaitingRoomConfig = apps.get_model("waitingroom", "WaitingRoomConfig")
    for event in Event.objects.filter(waiting_room__isnull=True):
        WaitingRoomConfig.objects.create(event=event, mode=settings.WAITING_ROOM_DEFAULT_MODE)


class Migration(migrations.Migration):
    dependencies = [("waitingroom", "0001_initial")]

    operations = [migrations.RunPython(create_rooms, migrations.RunPython.noop)]
