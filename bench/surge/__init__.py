"""The ticket drop: thousands of buyers through the whole flow, then the audit and a picture.

    python -m bench.surge --start                       # 5,000 buyers, 1,000 seats, the production stack
    python -m bench.surge --start --buyers 300 --seats 120 --ci   # the CI-sized run (under a minute)

Each buyer is an independent browser (its own cookies) playing the real HTTP flow: event page →
waiting room (polling its status as the page does) → seat map → hold of 1-4 seats (popular seats,
any free ones, a retry after a conflict) → checkout (order created) → pay, fail, abandon or pay
late through the emulator's scripted path → verify callback → ticket page.

With --start it starts the stack the production way (gunicorn, Celery worker and beat, the
Razorpay emulator) on a fresh database, creates the event with `manage.py create_event`
(operator set-up, not measured) and measures only over HTTP. Afterwards it runs the product's
audits, `audit_bookings` and `audit_room` (no visitor left inside once their holds ended),
prints every invariant and exits non-zero if any is broken. It writes the figures as JSON and
draws a PNG timeline (matplotlib).

One module a job: stack (start it, devstack's pieces), phases (the measurements before the
drop), buyers (one buyer's flow), drop (the buyers in several processes, the sampler), audit,
report (figures, surge.json, the picture); __main__ ties them together.
"""
