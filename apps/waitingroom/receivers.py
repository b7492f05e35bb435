"""Signal receivers: thin, each hands over to a service."""

import logging
from collections import defaultdict

from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver
from redis.exceptions import RedisError

from apps.booking.models import Event
from apps.booking.signals import event_called_off, intent_ended, intent_held
from apps.waitingroom import services

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Event, dispatch_uid="waitingroom_event_saved")
def event_saved(sender, instance: Event, raw: bool = False, **kwargs):
    """Every event gets its room (default mode from settings) and a fresh mirror: the gate
    never reads the database, so the room must exist in Redis before the first visitor."""
    if not raw:
        services.ensure_config(event=instance)


@receiver(intent_held, dispatch_uid="waitingroom_intent_held")
def intent_held_pins_slot(sender, held, **kwargs):
    """A new hold: its owner may reach the checkout, and an admitted owner keeps the slot while it lasts."""
    if not held.session_ref:
        return  # made outside the gate (staff, a script)
    try:
        services.record_hold(
            event_id=held.event_id,
            visitor_id=held.session_ref,
            intent_id=str(held.intent_id),
            expires_at=held.expires_at,
        )
    except RedisError:
        logger.warning("could not record hold %s for the gate", held.intent_id)


@receiver(intent_ended, dispatch_uid="waitingroom_intent_ended")
def intent_ended_frees_slots(sender, endings, **kwargs):
    """A finished booking, a released or expired hold: the buyer's inside slot is freed now.

    Delivered through the core's outbox: a Redis error is raised, so the relay calls this again
    (leaving is idempotent) and the slot is freed once Redis answers, not only when it lapses."""
    by_event = defaultdict(list)
    for ending in endings:
        if ending.session_ref:
            by_event[ending.event_id].append(ending.session_ref)
    for event_id, visitors in by_event.items():
        services.leave(event_id=event_id, visitor_ids=visitors)


@receiver(user_logged_in, dispatch_uid="waitingroom_staff_flag")
def remember_staff(sender, request, user, **kwargs):
    """The gate reads this flag from the (signed-cookie) session instead of loading the user."""
    if request is not None and hasattr(request, "session"):
        request.session["wr_staff"] = bool(user.is_staff)


@receiver(event_called_off, dispatch_uid="waitingroom_event_called_off")
def close_room_of_called_off_event(sender, event_id: int, **kwargs):
    """The event was called off: its room closes (the line and the gate say so at once). Delivered
    through the outbox: a Redis error is retried by the relay."""
    event = Event.objects.filter(pk=event_id).first()
    if event is not None:
        services.update_config(event=event, closed=True)
