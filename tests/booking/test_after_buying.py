"""Issue 15, after buying: the ticket page, and the ticket email sent again (the admin's action,
"find my tickets") through the outbox and a real Celery worker, without touching the once-only
confirmation; find my tickets answers the same whether or not the email and reference match."""

import re
import subprocess
import sys
import time
from email.header import decode_header, make_header

import pytest
import segno
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.booking import links, tickets
from apps.booking import services as booking_services
from apps.booking.models import Event
from apps.booking.signals import TICKET_EMAIL_REQUESTED
from apps.booking.templatetags.booking_tags import event_time
from apps.core.models import AuditEntry, OutboxMessage
from apps.payments import selectors as payment_selectors
from apps.payments import services as payment_services
from apps.payments.models import Payment
from devstack.redis_server import RedisServer
from tests.factories import make_event
from tests.faults.stand_ins import mails
from tests.payments.test_audit import paid_booking
from tests.payments.test_broker_down import stopped_at_the_end
from tests.processes import ROOT, celery_worker, product_env, wait_for

pytestmark = pytest.mark.django_db

FIND = "/tickets/find/"
FILE_MAIL = "django.core.mail.backends.filebased.EmailBackend"


def text_of(message) -> str:
    """The plain-text part of an email the file backend wrote (decoded: links are intact)."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


def subject_of(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def resend_requests() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(topic=TICKET_EMAIL_REQUESTED.name).order_by("pk"))


def find(client: Client, email: str, reference: str, **extra):
    return client.post(FIND, {"email": email, "reference": reference}, **extra)


# --- The ticket page ------------------------------------------------------------------


def test_the_ticket_page_shows_the_event_its_time_and_zone_each_seat_and_section_the_buyer_and_a_large_qr():
    event = make_event(rows=2, seats_per_row=5, name="Monsoon Nights", venue="Shanmukhananda Hall")
    booking_services.generate_seat_grid(event=event, seats_per_row=5, tiers=[("Balcony", 1, 250000)])  # row C
    Event.objects.filter(pk=event.pk).update(time_zone="Asia/Tokyo")  # not the server's zone
    event.refresh_from_db()
    booking = paid_booking(event, ["C-2", "A-1"], 1)

    page = Client().get(links.ticket_path(booking.reference))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Monsoon Nights" in html and "Shanmukhananda Hall" in html and "Buyer 1" in html
    assert event_time(event.starts_at, event) in html and "JST" in html  # the event's own clock, named
    # Every seat with its section, in the venue's order (sections, then rows).
    assert re.search(r"<td>A-1</td><td>Standard</td>.*<td>C-2</td><td>Balcony</td>", html, re.S)
    # One QR code per seat, in the same order, each carrying that seat's signed code (tickets.py):
    # its modules are exactly those of the code's. Sized by CSS (no fixed width), so it can be large.
    codes = links.gate_codes(booking)
    assert [admits for admits, _ in codes] == ["Seat A-1", "Seat C-2"]
    assert [tickets.read(code).seat_label for _, code in codes] == ["A-1", "C-2"]
    assert {tickets.read(code).reference for _, code in codes} == {booking.reference}
    for _, code in codes:
        # A full QR code (every phone reads it; segno.make may pick a Micro QR code for a short
        # text, with one finder pattern).
        expected = segno.make_qr(code, error="m").svg_inline(omitsize=True)
        assert re.search(r' d="([^"]+)"', expected)[1] in html
    svg_tags = re.findall(r"<svg[^>]*>", html)
    assert len(svg_tags) == 2 and all("viewBox=" in tag and "width=" not in tag for tag in svg_tags)


def test_a_ticket_link_with_a_wrong_key_is_a_branded_404():
    booking = paid_booking(make_event(), ["A-1"], 1)
    answer = Client().get(reverse("booking:ticket", args=[booking.reference]) + "?key=forged")
    assert answer.status_code == 404
    html = answer.content.decode()
    assert "We can't find that page" in html and FIND in html and booking.reference not in html


# --- The ticket email again: the admin's action ------------------------------------------


def test_the_admin_action_asks_for_the_ticket_email_through_the_outbox_and_records_who():
    first = paid_booking(make_event(), ["A-1"], 1)
    second = paid_booking(make_event(), ["A-1"], 2)
    staff = get_user_model().objects.create_superuser("ops", "ops@example.com", "x")
    client = Client()
    client.force_login(staff)
    answer = client.post(
        "/admin/booking/booking/",
        {"action": "resend_ticket_email", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert answer.status_code == 200 and "The ticket email of 2 booking(s) is on its way" in answer.content.decode()
    payloads = sorted((m.payload["reference"], m.payload["email"]) for m in resend_requests())
    assert payloads == sorted([(first.reference, first.buyer_email), (second.reference, second.buyer_email)])
    recorded = set(AuditEntry.objects.filter(action="resend ticket email").values_list("actor_name", "target"))
    assert recorded == {("ops", f"booking {first.reference}"), ("ops", f"booking {second.reference}")}


@pytest.mark.django_db(transaction=True)
def test_a_resend_is_the_same_ticket_email_again_and_the_confirmation_stays_sent_once(tmp_path):
    """A real worker sends the confirmation once, then each re-send; the confirmation's record is untouched."""
    booking = paid_booking(make_event(), ["A-1"], 1)  # committed: its confirmation is queued
    outbox_dir = tmp_path / "mail"
    with celery_worker(queues="emails", tmp_path=tmp_path, EMAIL_BACKEND=FILE_MAIL, EMAIL_FILE_PATH=str(outbox_dir)):
        wait_for(lambda: Payment.objects.get().confirmation_sent_at, timeout=60, what="the confirmation")
        confirmed_at = Payment.objects.get().confirmation_sent_at
        booking_services.request_ticket_email(booking_id=booking.pk)
        booking_services.request_ticket_email(booking_id=booking.pk)
        wait_for(lambda: len(mails(outbox_dir)) >= 3, timeout=60, what="two re-sent ticket emails")
        time.sleep(1.5)  # room for a (wrong) extra email
    sent = mails(outbox_dir)
    assert len(sent) == 3
    assert {subject_of(m) for m in sent} == {f"Your tickets for {booking.event.name} — {booking.reference}"}
    assert {m["To"] for m in sent} == {booking.buyer_email}
    assert all(links.ticket_path(booking.reference) in text_of(m) for m in sent)  # the signed link
    code = links.gate_codes(booking)[0][1]  # the seat's signed code, for a gate that types it in
    assert all(f"Seat A-1: {code}" in text_of(m) for m in sent)
    when = event_time(booking.event.starts_at, booking.event)  # on the venue's clock, naming its zone
    assert when.endswith(" IST") and all(f"When: {when}" in text_of(m) for m in sent)
    assert Payment.objects.get().confirmation_sent_at == confirmed_at
    assert payment_services.claim_confirmation_email(intent_id=booking.intent_id) is None  # never again
    assert all(m.delivered_at is not None for m in resend_requests())


@pytest.mark.django_db(transaction=True)
def test_a_resend_asked_while_the_broker_is_down_is_sent_once_it_is_back(tmp_path):
    """The broker (a private redis-server) is down when ops ask: the request is kept in the outbox
    and the relay hands it over when the broker is back."""
    server = RedisServer(tmp_path)
    server.start()
    outbox_dir = tmp_path / "mail"
    env = {
        "REDIS_URL": server.url,  # broker, cache and waiting room, as in production
        "EMAIL_BACKEND": FILE_MAIL,
        "EMAIL_FILE_PATH": str(outbox_dir),
        "OUTBOX_RELAY_EVERY_SECONDS": "0.5",
    }
    booking = paid_booking(make_event(), ["A-1"], 1)
    payment_services.record_confirmation_sent(intent_id=booking.intent_id)  # only the re-send is expected

    with celery_worker(beat=True, tmp_path=tmp_path, **env), stopped_at_the_end(server):
        server.stop()
        assert not server.answers()
        code = f"from apps.booking import services; services.request_ticket_email(booking_id={booking.pk})"
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=product_env(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr  # the request is taken, broker or not
        [request] = resend_requests()
        assert request.delivered_at is None and "payments" in request.last_error
        time.sleep(1)
        assert not mails(outbox_dir)

        server.start()
        wait_for(lambda: mails(outbox_dir), timeout=60, what="the re-sent ticket email")
        wait_for(lambda: resend_requests()[0].delivered_at is not None, timeout=10, what="the delivery")
        time.sleep(1)
    sent = mails(outbox_dir)
    assert len(sent) == 1 and booking.reference in sent[0]["Subject"] and sent[0]["To"] == booking.buyer_email


# --- Find my tickets ------------------------------------------------------------------


def test_find_my_tickets_is_linked_from_the_header_and_asks_for_an_email_and_a_reference():
    client = Client()
    assert f'href="{FIND}"' in client.get("/").content.decode()
    assert reverse("booking:find_tickets") == FIND
    page = client.get(FIND)
    html = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert "csrfmiddlewaretoken" in html
    assert '<label for="id_email">' in html and '<label for="id_reference">' in html


@pytest.mark.parametrize(
    ("email", "reference", "says"),
    [
        ("not-an-email", "K7PM2QXA", "Enter a valid email address."),
        ("buyer@example.com", "K7PM", "A booking reference is 8 letters and digits"),
        ("buyer@example.com", "K7PM2QX0", "A booking reference is 8 letters and digits"),  # 0 is never used
        ("", "", "This field is required."),
    ],
)
def test_bad_input_is_a_400_with_the_form_s_error_and_sends_nothing(email, reference, says):
    answer = find(Client(), email, reference)
    html = answer.content.decode()
    assert answer.status_code == 400 and says in html and 'aria-invalid="true"' in html
    assert not resend_requests()
    as_json = find(Client(), email, reference, HTTP_ACCEPT="application/json")
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid"
    assert not resend_requests()


def test_the_form_needs_its_csrf_token():
    booking = paid_booking(make_event(), ["A-1"], 1)
    answer = find(Client(enforce_csrf_checks=True), booking.buyer_email, booking.reference)
    assert answer.status_code == 403 and "This form has expired" in answer.content.decode()
    assert not resend_requests()


def test_over_the_limit_per_email_or_per_address_is_a_429_with_retry_after_and_sends_nothing(settings):
    settings.FIND_TICKETS_RATE_LIMITS = {"per_ip": (1, 3), "per_email": (0.1, 2)}
    client = Client()
    assert [find(client, "a@example.com", "K7PM2QXA").status_code for _ in range(2)] == [200, 200]
    by_email = find(client, "A@Example.com", "K7PM2QXA")  # the same inbox, however spelt
    assert by_email.status_code == 429 and 500 <= int(by_email["Retry-After"]) <= 600  # 0.1 a minute
    assert "Please wait a little" in by_email.content.decode()
    assert find(client, "b@example.com", "K7PM2QXA").status_code == 200  # the address's third
    by_address = find(client, "c@example.com", "K7PM2QXA")
    assert by_address.status_code == 429 and 1 <= int(by_address["Retry-After"]) <= 60
    assert len(resend_requests()) == 3
    other_address = find(Client(REMOTE_ADDR="198.51.100.7"), "c@example.com", "K7PM2QXA")
    assert other_address.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_match_sends_one_ticket_email_and_a_mismatch_none_with_the_same_answer_and_the_same_work(tmp_path):
    booking = paid_booking(make_event(), ["A-1"], 1)
    other = paid_booking(make_event(), ["A-1"], 2)
    for each in (booking, other):
        payment_services.record_confirmation_sent(intent_id=each.intent_id)  # only find-my-tickets mail
    tries = [
        ("someone@example.com", booking.reference),  # an address that did not book it
        (other.buyer_email, booking.reference),  # another buyer's address
        (booking.buyer_email, "ZZZZZZZZ"),  # no such booking
        (booking.buyer_email.upper(), booking.reference.lower()),  # the buyer, typed loosely: the match
    ]
    answers, queries = set(), set()
    client = Client()
    for email, reference in tries:
        with CaptureQueriesContext(connection) as ran:
            answer = find(client, email, reference)
        answers.add(
            (answer.status_code, answer.content.decode().replace(email, "EMAIL").replace(reference.upper(), "REF"))
        )
        queries.add(len(ran))
    assert len(answers) == 1 and next(iter(answers))[0] == 200  # the same answer, word for word
    assert len(queries) == 1  # and the same work: the match is checked later, by the sender

    outbox_dir = tmp_path / "mail"
    with celery_worker(queues="emails", tmp_path=tmp_path, EMAIL_BACKEND=FILE_MAIL, EMAIL_FILE_PATH=str(outbox_dir)):
        # One queue, one task at a time, in order: the match was asked last, so when its email is
        # there the mismatches have been handled.
        wait_for(lambda: mails(outbox_dir), timeout=60, what="the ticket email")
        time.sleep(1.5)  # room for a (wrong) extra email
    sent = mails(outbox_dir)
    assert len(sent) == 1 and sent[0]["To"] == booking.buyer_email and booking.reference in sent[0]["Subject"]
    assert links.ticket_path(booking.reference) in text_of(sent[0])
    assert all(m.delivered_at is not None for m in resend_requests()) and len(resend_requests()) == 4
    assert not payment_selectors.confirmations_to_resend()
