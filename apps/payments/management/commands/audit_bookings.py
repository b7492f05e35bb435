import json

from django.core.management.base import BaseCommand

from apps.payments import selectors


class Command(BaseCommand):
    help = "Check the booking invariants straight from the database; exit 1 on any violation."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, **opts):
        counts = selectors.invariant_violations()
        if opts["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            for name, count in counts.items():
                style = self.style.SUCCESS if count == 0 else self.style.ERROR
                self.stdout.write(style(f"{count:>6}  {name}"))
            # Not a broken invariant (nothing was confirmed, and the money is counted above), but a
            # sign of forged webhooks or callbacks: ops look at Payments > Capture mismatches.
            mismatches = selectors.capture_mismatches_recorded()
            if mismatches:
                self.stdout.write(self.style.WARNING(f"{mismatches:>6}  capture mismatches recorded (see the admin)"))
        if any(counts.values()):
            self.stderr.write(self.style.ERROR("audit failed"))
            raise SystemExit(1)
        if not opts["json"]:
            self.stdout.write(self.style.SUCCESS("audit clean"))
