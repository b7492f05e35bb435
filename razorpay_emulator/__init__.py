"""Razorpay emulator: a local stand-in for the part of Razorpay Surge uses (development, tests, load runs).

The app's production code path runs unchanged against it: the official `razorpay` SDK with `base_url`
pointed here, the real Checkout flow through an emulated `checkout.js`, and signed webhooks. App code
never imports this package; it only talks to it over HTTP.

Running it
----------
    RAZORPAY_EMULATOR_ENABLED=true python manage.py razorpay_emulator --port 9000 [--host 127.0.0.1]

The command refuses to start unless `settings.RAZORPAY_EMULATOR_ENABLED` is true (off unless set),
so production settings can never serve it. It reads RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET,
RAZORPAY_WEBHOOK_SECRET, RAZORPAY_EMULATOR_WEBHOOK_URL and REDIS_URL from settings. Point the app at it:

    RAZORPAY_API_URL=http://127.0.0.1:9000
    RAZORPAY_CHECKOUT_JS=http://127.0.0.1:9000/v1/checkout.js

Other options: --workers (gunicorn processes, default 1), --threads (per worker, 32),
--delivery-threads (webhook senders per worker, 4), --webhook-url (overrides the setting),
--webhook-timeout (5 s), --backoff-base (1 s; retry n waits base * 2**(n-1)), --backoff-max (300 s),
--late-delay (30 s), --event-gap (0.05 s between the events of one outcome). Deliveries are retried
for 24 hours from the event, as Razorpay does.

State is kept in Redis under the prefix `rzpemu:` (orders, payments, refunds, idempotency keys, fault
switches, the webhook queue and the late-payment queue), so it survives a restart; deliveries and late
payments that were due carry on when the emulator comes back.

Razorpay API (`/v1`, HTTP Basic auth with the key id and secret; 401 otherwise)
--------------------------------------------------------------------------------
    POST /v1/orders                 GET /v1/orders (count, skip, from, to, receipt)
    GET  /v1/orders/:id             GET /v1/orders/:id/payments
    GET  /v1/payments/:id           POST /v1/payments/:id/capture {amount, currency}
    POST /v1/payments/:id/refund    {amount?, speed?, notes?, receipt?}; header X-Refund-Idempotency
    GET  /v1/payments/:id/refunds   GET /v1/refunds/:id
    GET  /v1/checkout.js            (no auth) Razorpay's Checkout interface, modal in an iframe

Every answer is JSON; errors use Razorpay's envelope `{"error": {code, description, source, step,
reason, metadata, field}}`; unknown ids answer 400 "The id provided does not exist". Orders capture
payments automatically unless created with `{"payment": {"capture": "manual"}}` or `payment_capture: 0`.

The modal's buttons have stable ids: `rzp-emu-pay-success`, `rzp-emu-pay-failure`, `rzp-emu-pay-late`,
`rzp-emu-close` (inside the iframe `#rzp-emu-frame`).

Control API (`/_emulator`, no auth, CORS open)
----------------------------------------------
    GET  /_emulator/health              "ok" (also GET /): the benchmark's trivial request
    POST /_emulator/orders/:id/pay      {"outcome": "success" | "failure" | "late",
                                         "capture": false,        # leave the payment `authorized`
                                         "delay_seconds": 5,      # for "late" (default: late_delay)
                                         "reason": "card_declined", "method": "upi", "email", "contact", "notes"}
        success -> 200 {razorpay_payment_id, razorpay_order_id, razorpay_signature}  (what `handler` gets)
        failure -> 200 {"error": {code, description, source, step, reason,
                                  metadata: {order_id, payment_id}}}                 (what `payment.failed` gets)
        late    -> 200 {"status": "pending", razorpay_payment_id, razorpay_order_id}; the payment stays
                   `created`, then is authorized and captured after the delay (payment.authorized,
                   payment.captured, order.paid). If the order was paid meanwhile it stays `authorized`.
        A paid order or an unknown order answers 400 in Razorpay's error envelope.
    GET  /_emulator/faults              the current switches
    POST /_emulator/faults              merge switches; {"reset": true} restores the defaults first:
        duplicate: N     deliver every event N times (same X-Razorpay-Event-Id, same body)
        reverse: bool    deliver an outcome's events in reverse order
        delay: seconds   wait before the first delivery attempt
        drop_first: N    fail each delivery's first N attempts without sending (as a receiver timeout)
        late_delay: s    default delay of "late" payments
        refund_drop_every: N   every Nth refund call answers 502 and refunds nothing
        refund_lose_every: N   every Nth refund call refunds, then answers 504 (the answer is lost);
                               both count refund calls from when they were set (0: off)
    GET  /_emulator/deliveries          ?order_id=&payment_id=&event=&count=&body=1 : each delivery with
                                        event id, event, copy, attempts [{at, status, error, ms}],
                                        delivered / delivered_at / next_attempt_at / gave_up
    POST /_emulator/reset               forget all state (tests)

Webhooks: payment.authorized, payment.captured, payment.failed, order.paid, refund.created,
refund.processed, POSTed with Razorpay's envelope, `X-Razorpay-Signature` (hex HMAC-SHA256 of the raw
body with the webhook secret) and `X-Razorpay-Event-Id`; a delivery succeeds only on a 2xx within the
timeout, else it is retried with exponential backoff (at least once: duplicates happen, order is not
guaranteed across retries).
"""
