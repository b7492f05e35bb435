"""Check the waiting rooms against the bookings: no visitor may stay counted inside once their
holds have all ended (a leaked slot keeps someone in the line for nothing).

  manage.py audit_room                      # every event with a room
  manage.py audit_room --event <slug> --json

Exit 1 on any leak, like audit_bookings."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.waitingroom import selectors
from apps.waitingroom.models import WaitingRoomConfig

LEAKED = "queue slots leaked"


class Command(BaseCommand):
    help = "Count visitors still inside a waiting room although their holds have ended; exit 1 on any."

    def add_arguments(self, parser):
        parser.add_argument("--event", action="append", help="an event's slug (repeatable; default: every room)")
        parser.add_argument("--settle", type=float, default=3.0, help="seconds before the recheck (default 3)")
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, **opts):
        rooms = WaitingRoomConfig.objects.select_related("event")
        if opts["event"]:
            rooms = rooms.filter(event__slug__in=opts["event"])
            missing = set(opts["event"]) - {room.event.slug for room in rooms}
            if missing:
                raise CommandError(f"no waiting room for {', '.join(sorted(missing))}")
        slugs = {room.event_id: room.event.slug for room in rooms}
        leaks = selectors.leaked_slots(list(slugs), settle_seconds=opts["settle"])
        total = sum(len(visitors) for visitors in leaks.values())
        if opts["json"]:
            self.stdout.write(json.dumps({LEAKED: total}))
        else:
            for event_id, visitors in leaks.items():
                style = self.style.SUCCESS if not visitors else self.style.ERROR
                self.stdout.write(style(f"{len(visitors):>6}  {LEAKED}: {slugs[event_id]}"))
        if total:
            self.stderr.write(self.style.ERROR("audit failed"))
            raise SystemExit(1)
        if not opts["json"]:
            self.stdout.write(self.style.SUCCESS("audit clean"))
