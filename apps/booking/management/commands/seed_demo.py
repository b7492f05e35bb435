from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from apps.booking import services
from apps.booking.models import Event


class Command(BaseCommand):
    help = "Create the demo event (idempotent) so a fresh run shows something."

    def handle(self, *args, **opts):
        if Event.objects.filter(slug="demo-concert").exists():
            self.stdout.write("Demo event already there.")
            return
        event = services.create_event(
            slug="demo-concert",
            name="Demo Concert: The Surge Orchestra",
            venue="Bengaluru Palace Grounds",
            description="A demo event with three price tiers.",
            starts_at=timezone.now() + timedelta(days=30),
        )
        count = services.generate_seat_grid(
            event=event,
            seats_per_row=20,
            tiers=[("Platinum", 3, 450000), ("Gold", 5, 250000), ("Silver", 7, 120000)],
        )
        self.stdout.write(self.style.SUCCESS(f"Created demo event {event.slug} with {count} seats."))
