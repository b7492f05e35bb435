import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from apps.booking import services
from apps.booking.errors import BookingError

PASSWORD_ENV = "DOOR_STAFF_PASSWORD"  # noqa: S105 (the name of the variable, not a password)


class Command(BaseCommand):
    help = (
        "Create a door-staff login: staff with only the check-in permission (the door page, no admin "
        f"screen). The password is asked for, or read from ${PASSWORD_ENV}."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--no-input", action="store_false", dest="interactive", help=f"Never prompt: take ${PASSWORD_ENV}."
        )

    def handle(self, *args, username: str, email: str, interactive: bool, **opts):
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            if not interactive:
                raise CommandError(f"Set {PASSWORD_ENV}, or run without --no-input to be asked.")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        try:
            services.create_door_staff(username=username, password=password, email=email)
        except BookingError as error:
            raise CommandError(error.message) from None
        self.stdout.write(self.style.SUCCESS(f"Door staff {username!r} created: they sign in at /door/<event slug>/."))
