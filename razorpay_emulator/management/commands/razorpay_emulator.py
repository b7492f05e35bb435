"""`python manage.py razorpay_emulator --port 9000`: run the local Razorpay stand-in (never in production)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from razorpay_emulator.config import EmulatorConfig


class Command(BaseCommand):
    help = "Run the Razorpay emulator (API, checkout.js, signed webhooks). Development and tests only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes")
        parser.add_argument("--threads", type=int, default=32, help="request threads per worker")
        parser.add_argument("--delivery-threads", type=int, default=4, help="webhook delivery threads per worker")
        parser.add_argument("--webhook-url", default=None, help="overrides RAZORPAY_EMULATOR_WEBHOOK_URL")
        parser.add_argument("--webhook-timeout", type=float, default=5.0, help="seconds to wait for a 2xx")
        parser.add_argument("--backoff-base", type=float, default=1.0, help="first retry delay in seconds")
        parser.add_argument("--backoff-max", type=float, default=300.0, help="longest retry delay in seconds")
        parser.add_argument("--late-delay", type=float, default=30.0, help="default delay of a late payment")
        parser.add_argument("--event-gap", type=float, default=0.05, help="seconds between one outcome's events")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not getattr(settings, "RAZORPAY_EMULATOR_ENABLED", False):
            raise CommandError(
                "The Razorpay emulator is disabled: set RAZORPAY_EMULATOR_ENABLED=true to run it "
                "(development, tests and load runs only; never in production)."
            )
        from razorpay_emulator.server import EmulatorServer  # gunicorn only when it actually runs

        config = EmulatorConfig(
            key_id=settings.RAZORPAY_KEY_ID,
            key_secret=settings.RAZORPAY_KEY_SECRET,
            webhook_secret=settings.RAZORPAY_WEBHOOK_SECRET,
            webhook_url=opts["webhook_url"] or settings.RAZORPAY_EMULATOR_WEBHOOK_URL,
            redis_url=settings.REDIS_URL,
            webhook_timeout=opts["webhook_timeout"],
            backoff_base=opts["backoff_base"],
            backoff_max=opts["backoff_max"],
            delivery_threads=opts["delivery_threads"],
            late_delay=opts["late_delay"],
            event_gap=opts["event_gap"],
        )
        self.stdout.write(
            f"Razorpay emulator on http://{opts['host']}:{opts['port']} (key {config.key_id}); "
            f"webhooks to {config.webhook_url or '(none)'}; state in Redis under {config.prefix!r}"
        )
        self.stdout.flush()
        EmulatorServer(
            config, host=opts["host"], port=opts["port"], workers=opts["workers"], threads=opts["threads"]
        ).run()
