"""Create an on-sale event with its seats and its waiting room, as ops do before a drop.

It lives in the waiting room because it composes the two: the booking core makes the event and
its seats, and the waiting room (which may know the core; the core never knows it) sets up the line."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.booking import services
from apps.booking.errors import BookingError
from apps.waitingroom import services as waitingroom_services
from apps.waitingroom.contract import RoomMode


class Command(BaseCommand):
    help = "Create an on-sale event with a grid of seats."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name")
        parser.add_argument("--venue", default="Main Hall")
        parser.add_argument("--rows", type=int, required=True)
        parser.add_argument("--seats-per-row", type=int, required=True)
        parser.add_argument("--price", type=int, required=True, help="price of a seat in paise")
        parser.add_argument(
            "--sections", type=int, default=1, help="split the rows into this many sections (a stadium's blocks)"
        )
        parser.add_argument("--starts-at", help="ISO datetime; default a month from now")
        parser.add_argument("--sale-opens-at", help="ISO datetime; default now")
        parser.add_argument("--max-per-buyer", type=int)
        parser.add_argument("--hold-minutes", type=int)
        parser.add_argument("--no-waiting-room", action="store_true", help="turn the waiting room off for this event")
        parser.add_argument("--capacity", type=int, help="waiting room: buyers inside at once")
        parser.add_argument("--rate", type=int, help="waiting room: buyers let in per minute")

    @staticmethod
    def tiers(opts) -> list[tuple[str, int, int]]:
        """(name, rows, price) of each section: the rows shared out as evenly as they go, one price."""
        sections = max(1, min(opts["sections"], opts["rows"]))
        if sections == 1:
            return [("Standard", opts["rows"], opts["price"])]
        share, extra = divmod(opts["rows"], sections)
        return [(f"Section {n + 1}", share + (n < extra), opts["price"]) for n in range(sections)]

    def handle(self, *args, **opts):
        def when(text, default):
            if not text:
                return default
            value = parse_datetime(text)
            if value is None:
                raise CommandError(f"not an ISO datetime: {text}")
            return value if timezone.is_aware(value) else timezone.make_aware(value)

        now = timezone.now()
        try:
            event = services.create_event(
                slug=opts["slug"],
                name=opts["name"] or opts["slug"].replace("-", " ").title(),
                venue=opts["venue"],
                starts_at=when(opts["starts_at"], now + timedelta(days=30)),
                sale_opens_at=when(opts["sale_opens_at"], now),
                max_seats_per_buyer=opts["max_per_buyer"],
                hold_minutes=opts["hold_minutes"],
            )
            count = services.generate_seat_grid(
                event=event, seats_per_row=opts["seats_per_row"], tiers=self.tiers(opts)
            )
        except BookingError as error:
            raise CommandError(error.message) from None
        try:
            room = waitingroom_services.update_config(
                event=event,
                mode=RoomMode.OFF if opts["no_waiting_room"] else None,
                capacity=opts["capacity"],
                rate_per_minute=opts["rate"],
            )
        except ValidationError as error:
            raise CommandError(f"waiting room: {'; '.join(error.messages)}") from None
        self.stdout.write(self.style.SUCCESS(f"Created {event.slug} (id {event.id}) with {count} seats."))
        self.stdout.write(
            f"Waiting room: {room.get_mode_display().lower()}, capacity {room.capacity}, {room.rate_per_minute}/min."
        )
