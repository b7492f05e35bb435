"""Errors of payments, in the project's one hierarchy: a payment error is a booking error (the
buyer's hold is what it is about); a gateway error is an application error of its own, so code
that catches booking errors never swallows an outage of Razorpay by accident."""

from apps.booking.errors import BookingError
from apps.core.errors import ApplicationError


class PaymentError(BookingError):
    status = 400
    code = "payment_error"
    message = "We could not process this payment."


class SignatureInvalid(PaymentError):
    code = "signature_invalid"
    message = "The payment confirmation did not verify. If money left your account it will be refunded."


class PaymentPending(PaymentError):
    """A payment on this order may still go through (the bank has not answered): a second one
    could charge the buyer twice, so none is started."""

    status = 409
    code = "payment_pending"
    message = (
        "Your bank has not confirmed your last payment yet, so we are not starting another one. "
        "This page moves on by itself when the bank answers."
    )


class WebhookMalformed(PaymentError):
    code = "webhook_malformed"
    message = "The webhook's payload is not what Razorpay sends."


class GatewayError(ApplicationError):
    """Razorpay did not do what was asked. The buyer reads `message`; `str(error)` is Razorpay's
    own reason, for logs and ops only (it may name internals)."""

    def __init__(self, reason: str = ""):
        super().__init__()
        self.reason = reason

    def __str__(self) -> str:
        return self.reason or self.message


class GatewayUnavailable(GatewayError):
    """Razorpay could not be reached or failed on its side: try again later."""

    status = 503
    code = "gateway_unavailable"
    message = "The payment gateway is not answering right now. Your seats stay held; please try again shortly."
    retry_after = 10


class GatewayRejected(GatewayError):
    """Razorpay refused the request (bad input, wrong state)."""

    status = 502
    code = "gateway_rejected"
    message = "The payment gateway refused this request. Your seats stay held; please try again shortly."


class GatewaySlow(GatewayUnavailable):
    """Razorpay did not answer within a request's deadline: the worker carries on with more
    patience (the checkout's order is made in the background) and the page tries again shortly."""

    code = "gateway_slow"
    message = (
        "The payment gateway is slow right now. We are setting up your payment: this page tries again in a moment."
    )
    retry_after = 5


class PaymentsPaused(GatewayUnavailable):
    """The circuit breaker is open: Razorpay failed repeatedly, so nothing calls it for a while."""

    code = "payments_paused"
    message = "Payments are briefly unavailable. Your seats stay held; please try again in a minute."
    retry_after = 30

    def __init__(self, reason: str = "", *, retry_after: int | None = None):
        super().__init__(reason or "circuit open")
        if retry_after is not None:
            self.retry_after = retry_after
