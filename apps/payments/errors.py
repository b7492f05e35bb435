from apps.booking.errors import BookingError


class PaymentError(BookingError):
    status = 400
    code = "payment_error"
    message = "We could not process this payment."


class SignatureInvalid(PaymentError):
    code = "signature_invalid"
    message = "The payment confirmation did not verify. If money left your account it will be refunded."


class GatewayDown(PaymentError):
    status = 503
    code = "gateway_unavailable"
    message = "The payment gateway is not answering right now. Your seats stay held; please try again shortly."


class WebhookMalformed(PaymentError):
    code = "webhook_malformed"
    message = "The webhook's payload is not what Razorpay sends."
