"""Recompute a pre-queue's opening order from its seed and the list of early arrivals.

  manage.py audit_prequeue --seed <hex> --arrivals arrivals.txt     # anyone: one ticket a line
  manage.py audit_prequeue --event <slug>                           # ops: check the recorded order

See apps/waitingroom/prequeue.py for the method."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.waitingroom import prequeue, queue
from apps.waitingroom.contract import RoomKeys
from apps.waitingroom.models import WaitingRoomConfig


class Command(BaseCommand):
    help = "Recompute the pre-queue shuffle from the seed and the early arrivals, and check it."

    def add_arguments(self, parser):
        parser.add_argument("--seed", help="the revealed seed")
        parser.add_argument("--arrivals", help="file with the early arrivals' tickets, one a line")
        parser.add_argument("--event", help="slug of an event whose opening was recorded")
        parser.add_argument("--seed-hash", help="the SHA-256 published before the opening, to check the seed against")

    def handle(self, *args, **opts):
        expected = None
        if opts["event"]:
            config = WaitingRoomConfig.objects.filter(event__slug=opts["event"]).first()
            if config is None:
                raise CommandError(f"no waiting room for {opts['event']}")
            raw = queue.client().get(RoomKeys.of(config.event_id).audit)
            if raw is None:
                raise CommandError("no opening recorded for this event (not opened yet, or nobody came early)")
            record = json.loads(raw)
            seed, arrivals, expected = config.seed, record["arrivals"], record["order"]
        else:
            if not opts["seed"] or not opts["arrivals"]:
                raise CommandError("give --event, or --seed and --arrivals")
            seed = opts["seed"]
            arrivals = [line.strip() for line in Path(opts["arrivals"]).read_text().splitlines() if line.strip()]
        if opts["seed_hash"] and prequeue.seed_hash(seed) != opts["seed_hash"].lower():
            raise CommandError("the seed does not match the published SHA-256")
        order = prequeue.shuffled(seed, arrivals)
        self.stdout.write(f"seed sha256: {prequeue.seed_hash(seed)}")
        for position, ticket in enumerate(order, 1):
            self.stdout.write(f"{position}\t{ticket}")
        if expected is not None:
            if order != expected:
                raise CommandError("MISMATCH: the recorded order is not the one the seed gives")
            self.stdout.write(self.style.SUCCESS(f"OK: the recorded order of {len(order)} is reproduced"))
