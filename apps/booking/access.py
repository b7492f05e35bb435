"""Who may reach a hold's URLs: its owner only. Shared by the booking core's views and the
payment pages (which must not import another app's views)."""

from uuid import UUID

from django.http import HttpRequest

from apps.booking import selectors
from apps.booking.errors import IntentNotFound
from apps.booking.models import BookingIntent
from apps.core.http import visitor_of


def owned_intent(request: HttpRequest, intent_id: UUID, *, page: bool = False) -> BookingIntent:
    """The hold behind an intent-scoped buyer URL, for its owner only (`selectors.intent_for_owner`);
    `page` adds what the checkout page shows. Raises IntentNotFound (404) for anyone else, so a
    stranger cannot even tell the hold exists."""
    owner = visitor_of(request)
    intent = selectors.intent_for_checkout(intent_id, owner) if page else selectors.intent_for_owner(intent_id, owner)
    if intent is None:
        raise IntentNotFound()
    return intent
