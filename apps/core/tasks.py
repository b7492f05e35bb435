"""Celery tasks of the plumbing: thin, they call the outbox."""

from celery import shared_task

from apps.core import heartbeat, outbox


@shared_task(acks_late=True, ignore_result=True)
def relay_outbox() -> int:
    """Beat: deliver the announcements that are due (idempotent: each delivery claims its row)."""
    return outbox.relay()


@shared_task(ignore_result=True)
def beat_heartbeat() -> None:
    """Beat: stamp beat's liveness (GET /healthz/beat answers 503 once the stamp is stale)."""
    heartbeat.record_beat()
