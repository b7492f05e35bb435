"""Copies of booking_hold_seats() with a guard taken out or a race window widened, for control tests:
run a race harness against the copy and it must catch the bug the guard prevents.

A copy is made from the function the test database has (pg_get_functiondef), so it follows every
change to the function's text (migration 0008's now); each edit must match the exact number of times it expects, so a
reworded function fails here loudly instead of leaving a control that no longer removes anything."""

from django.db import connection

ORIGINAL = "booking_hold_seats"  # migration 0008; services.HOLD_FUNCTION unless a test swapped it

# The seats' guard, written the same in step 5 (the locking read) and step 6 (the UPDATE): a seat is
# taken only at the version it was read at, and only while free.
GUARD = (
    "AND s.version = v_versions[array_position(v_ids, s.id)] "
    "AND (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.hold_expires_at <= p_now))"
)
NO_GUARD = (GUARD, "", 2)
# The buyer's, browser's and network's advisory locks (step 2): without them the counts race.
NO_ADVISORY_LOCK = ("PERFORM pg_advisory_xact_lock(k)", "PERFORM k", 1)


def pause_before(step: int, seconds: float) -> tuple[str, str, int]:
    """Sleep inside the hold just before the step numbered `step` in the function's comments."""
    marker = f"    -- {step}. "
    return (marker, f"    PERFORM pg_sleep({seconds});\n{marker}", 1)


def install_source(name: str, source: str) -> str:
    """Create booking_hold_seats_<name> from a whole source of the function (an earlier migration's)."""
    function = f"{ORIGINAL}_{name}"
    header = f"FUNCTION {ORIGINAL}("
    assert source.count(header) == 1, source[:200]
    with connection.cursor() as cursor:
        cursor.execute(source.replace(header, f"FUNCTION {function}("))
    return function


def install(name: str, edits: list[tuple[str, str, int]]) -> str:
    """Create booking_hold_seats_<name>, the installed function with each (old, new, count) edit made.
    Returns the new function's name (set it as services.HOLD_FUNCTION to hold through it)."""
    function = f"{ORIGINAL}_{name}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef(%s::regproc)", [ORIGINAL])
        source = cursor.fetchone()[0]
    header = f"FUNCTION public.{ORIGINAL}("
    assert source.count(header) == 1, source[:200]
    source = source.replace(header, f"FUNCTION public.{function}(")
    for old, new, count in edits:
        assert source.count(old) == count, f"{old!r} found {source.count(old)} times, expected {count}"
        source = source.replace(old, new)
    with connection.cursor() as cursor:
        cursor.execute(source)
    return function


def drop(function: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP FUNCTION IF EXISTS {function}")
