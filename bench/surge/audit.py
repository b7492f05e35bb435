"""After the drop: the product's own audits, run as an operator runs them.

audit_bookings checks the bookings against the payments; audit_room checks the waiting room's
slots against the holds (a visitor still inside once every hold ended), rechecking after a 3 s
settle: at one instant a slot can be legitimately in flight.

Before them, `settle` waits for the stack to finish what the drop (and a fault) left: every
confirmed booking's confirmation email sent and every outbox announcement delivered. After a
fault that is the sweeps' work (resend_missing_confirmations, the outbox relay), within the
email deadline; the figures say how long it took."""

import json
import time

from devstack.processes import run_manage

AUDIT_FAILED = "audit did not run"


def run_audit(env: dict[str, str], slug: str) -> tuple[dict, bool]:
    """Every count of both audits (surge.json's `audit`), and whether both passed."""
    counts: dict[str, int] = {}
    clean = True
    for command in (["audit_bookings", "--json"], ["audit_room", "--json", "--event", slug, "--settle", "3"]):
        done = run_manage(*command, env=env)
        try:
            counts.update(json.loads(done.stdout.strip().splitlines()[0]))
        except (IndexError, ValueError):
            counts[f"{command[0]}: {AUDIT_FAILED}"] = 1
        clean = clean and done.returncode == 0
    return counts, clean


# An observer's reads, not the product's (a benchmark imports no app): the tables and columns of
# apps/booking Booking, apps/payments Payment.confirmation_sent_at and apps/core OutboxMessage.
UNSENT_EMAILS = (
    "SELECT count(*) FROM booking_booking b JOIN payments_payment p ON p.intent_id = b.intent_id "
    "WHERE p.confirmation_sent_at IS NULL"
)
UNDELIVERED = "SELECT count(*) FROM core_outboxmessage WHERE delivered_at IS NULL"


def settle(env: dict[str, str], timeout: float) -> dict:
    """Wait (up to timeout) until no confirmed booking lacks its sent email and no announcement
    is undelivered; the counts at the end and how long it took."""
    import psycopg

    db_name = env["DATABASE_URL"].rsplit("/", 1)[-1]
    began = time.monotonic()
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db_name}", autocommit=True) as db:
        while True:
            unsent = db.execute(UNSENT_EMAILS).fetchone()[0]
            undelivered = db.execute(UNDELIVERED).fetchone()[0]
            waited = time.monotonic() - began
            if (unsent == 0 and undelivered == 0) or waited > timeout:
                break
            time.sleep(2)
        bookings = db.execute("SELECT count(*) FROM booking_booking").fetchone()[0]
    return {
        "bookings": bookings,
        "emails_unsent": unsent,
        "announcements_undelivered": undelivered,
        "settled_after_s": round(waited, 1),
    }
