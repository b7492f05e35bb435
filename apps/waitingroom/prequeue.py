"""The pre-queue shuffle, as a pure function anyone can re-run.

Arrivals before the sale opens are identified publicly by a ticket, the first 16 hex
digits of SHA-256(visitor id): the visitor id itself is a cookie and stays secret. The
order at the opening sorts tickets by HMAC-SHA256(seed, ticket). The seed is random
(secrets.token_hex), its SHA-256 is shown on the waiting page before the opening and the
seed itself after it, so anyone holding the published arrival list can recompute the order
(`manage.py audit_prequeue`), and the operator cannot pick a seed after seeing who came."""

import hashlib
import hmac


def ticket(visitor_id: str) -> str:
    return hashlib.sha256(visitor_id.encode()).hexdigest()[:16]


def seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def shuffled(seed: str, tickets: list[str]) -> list[str]:
    """The opening order of these tickets under this seed."""
    return sorted(tickets, key=lambda t: (hmac.new(seed.encode(), t.encode(), hashlib.sha256).hexdigest(), t))
