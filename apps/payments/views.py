"""Checkout with the Razorpay modal, the verify callback and the webhook receiver. Errors are let
through to the mapper (apps.core), or handed to `error_response` with the page that shows them."""

import json
import logging
from uuid import UUID

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError as BrokerDown
from redis.exceptions import RedisError

from apps.booking import links
from apps.booking.access import owned_intent
from apps.core.http import error_response
from apps.payments import gateway, orders, selectors, services, tasks
from apps.payments.errors import GatewayError, GatewayUnavailable, PaymentPending, SignatureInvalid, WebhookMalformed
from apps.payments.models import Payment

logger = logging.getLogger(__name__)


def _unavailable(error: GatewayError) -> GatewayUnavailable:
    """Whatever kept Razorpay from answering, the buyer is told to try again shortly (503 +
    Retry-After), never shown a 500."""
    return error if isinstance(error, GatewayUnavailable) else GatewayUnavailable(str(error))


@require_GET
def checkout(request, intent_id: UUID):
    intent = owned_intent(request, intent_id, page=True)
    if intent.status == intent.Status.CONFIRMED:
        return redirect(links.ticket_path(intent.booking.reference))
    now = timezone.now()
    gateway_error = None
    if intent.is_active(now) and not Payment.objects.filter(intent=intent).exists():
        try:
            orders.order_for_checkout(intent=intent)
        except GatewayError as error:
            logger.warning("order for intent %s not created: %s", intent.id, error)
            # Slow (the worker makes it), paused (circuit open), down or refusing: the buyer tries again shortly.
            gateway_error = _unavailable(error)
    try:
        state = services.check_order(intent_id=intent.id)
    except GatewayError as error:
        # Razorpay cannot say whether a payment is under way: Pay is not offered until it can.
        gateway_error = _unavailable(error)
        state = selectors.order_state(intent_id=intent.id)
    if state.redirect is not None:  # confirmed, here and now by a late payment: the ticket
        return redirect(state.redirect)
    payment = Payment.objects.filter(intent=intent).first()
    checkout_options = None
    if state.can_pay and payment is not None and gateway_error is None:
        checkout_options = {
            "key": settings.RAZORPAY_KEY_ID,
            "amount": payment.amount_paise,
            "currency": payment.currency,
            "name": "Surge tickets",
            "description": f"{intent.event.name}: {', '.join(link.seat.label for link in intent.intent_seats.all())}",
            "order_id": payment.order_id,
            "prefill": {"name": intent.buyer_name, "email": intent.buyer_email, "contact": intent.buyer_phone},
            "notes": {"intent_id": str(intent.id)},
            "theme": {"color": "#5a31f4"},
        }
    seconds_left = max(0, int((intent.expires_at - now).total_seconds()))
    context = {
        "intent": intent,
        "event": intent.event,
        "seats": [link.seat for link in intent.intent_seats.all()],
        "state": state,
        "active": intent.is_active(now),
        "seconds_left": seconds_left,
        "time_left": f"{seconds_left // 60}:{seconds_left % 60:02d}",
        # ?release=confirm: the release button's own page, which says what releasing does first.
        "confirm_release": request.GET.get("release") == "confirm" and state.stage == selectors.OrderStage.PAYABLE,
        "payment": payment,
        "gateway_error": gateway_error.message if gateway_error is not None else None,
        "refresh_seconds": gateway_error.retry_after if gateway_error is not None else None,
        "checkout_options": checkout_options,
        "checkout_js": settings.RAZORPAY_CHECKOUT_JS,
        "start_url": reverse("payments:start", args=[intent.id]),
        "verify_url": reverse("payments:verify", args=[intent.id]),
        "status_url": reverse("payments:status", args=[intent.id]),
    }
    if gateway_error is None:
        return render(request, "booking/checkout.html", context)

    def checkout_page(error: GatewayError):
        """The checkout page itself says so, with the hold and its countdown."""
        return render(request, "booking/checkout.html", context, status=error.status)

    return error_response(request, gateway_error, page=checkout_page)


@require_POST
def start(request, intent_id: UUID):
    """Pay was pressed: extend the hold once; the page moves its countdown. Refused (409) while a
    payment on this order may still go through, so nobody pays twice."""
    owned_intent(request, intent_id)
    try:
        expires_at = services.start_payment(intent_id=intent_id)
    except PaymentPending as error:
        return error_response(request, error, as_json=True)
    except GatewayError as error:
        return error_response(request, _unavailable(error), as_json=True)
    seconds = max(0, int((expires_at - timezone.now()).total_seconds()))
    return JsonResponse({"expires_at": expires_at.isoformat(), "seconds_left": seconds})


@require_GET
def status(request, intent_id: UUID):
    """Where the order really stands (the page asks after the payment window closes, and while
    the bank has not answered): {"state", "can_pay", "message", "redirect"}. Never cached."""
    owned_intent(request, intent_id)
    try:
        state = services.check_order(intent_id=intent_id)
    except GatewayError as error:
        response = error_response(request, _unavailable(error), as_json=True)
    else:
        response = JsonResponse(state.as_json())
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def verify(request, intent_id: UUID):
    """The Checkout handler posts here; CSRF-protected like every form of ours. Only the hold's
    owner: anyone else learns nothing, not even whether a signature would verify."""
    owned_intent(request, intent_id)
    try:
        settlement = services.verify_checkout(
            intent_id=intent_id,
            order_id=request.POST.get("razorpay_order_id", ""),
            payment_id=request.POST.get("razorpay_payment_id", ""),
            signature=request.POST.get("razorpay_signature", ""),
        )
    except SignatureInvalid as error:
        return error_response(request, error, as_json=True)  # the Checkout handler's script reads JSON
    except GatewayError:
        settlement = services.Settlement(services.Settlement.Outcome.PENDING)
    if settlement.outcome == services.Settlement.Outcome.CONFIRMED:
        assert settlement.booking is not None  # a confirmed settlement carries its booking
        target = links.ticket_path(settlement.booking.reference)
    else:
        target = reverse("payments:checkout", args=[intent_id])
    return JsonResponse({"status": settlement.outcome, "redirect": target})


@csrf_exempt
@require_POST
def webhook(request):
    """Verify, store once, hand to a task, answer at once. The raw body is what was signed."""
    signature = request.headers.get("X-Razorpay-Signature", "")
    event_id = request.headers.get("X-Razorpay-Event-Id", "")
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return HttpResponseBadRequest("body is not UTF-8")
    if not signature or not gateway.webhook_signature_valid(body=body, signature=signature):
        return HttpResponseBadRequest("invalid signature")
    try:
        payload = json.loads(body)
    except ValueError:
        return HttpResponseBadRequest("malformed JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str) or not event_id:
        return HttpResponseBadRequest("not a Razorpay event")
    try:
        event, created = services.receive_webhook(event_id=event_id[:64], payload=payload)
    except WebhookMalformed as error:
        logger.warning("malformed webhook %s: %s", event_id[:64], error.message)
        return HttpResponseBadRequest(error.message)
    if created:
        try:
            tasks.process_webhook_event.delay(event.pk)
        except (BrokerDown, RedisError):
            # Stored: reconciliation re-queues pending events, so acknowledging loses nothing.
            logger.warning("broker down; webhook %s stored for later", event.event_id)
    return JsonResponse({"status": "accepted" if created else "duplicate"})
