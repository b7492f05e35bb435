"""After the drop: the product's own audits, run as an operator runs them.

audit_bookings checks the bookings against the payments; audit_room checks the waiting room's
slots against the holds (a visitor still inside once every hold ended), rechecking after a 3 s
settle: at one instant a slot can be legitimately in flight."""

import json

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
