"""The admin for an operator: amounts in rupees, no event on sale without seats, a booking linked to
its money and back."""

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from apps.booking import services
from apps.booking.models import Event
from apps.core.models import AuditEntry
from apps.payments.models import Payment, Refund
from tests.admin.conftest import ONE_LAKH_PAISE
from tests.factories import make_event
from tests.payments.test_audit import paid_booking

pytestmark = pytest.mark.django_db(transaction=True)

ONE_LAKH = "₹1,00,000"


def admin_url(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def test_amounts_of_every_screen_are_shown_in_rupees(ops, every_row):
    booking, payment = every_row["booking"], every_row["payment"]
    for page in [
        admin_url(type(booking), "changelist"),
        admin_url(type(booking), "change", booking.pk),
        admin_url(type(booking.intent), "changelist"),
        admin_url(type(booking.intent), "change", booking.intent.pk),
        admin_url(Payment, "changelist"),
        admin_url(Payment, "change", payment.pk),  # with its refunds and Razorpay's payments inline
        admin_url(Refund, "changelist"),
        admin_url(Refund, "change", Refund.objects.get().pk),
    ]:
        html = ops.get(page).content.decode()
        assert ONE_LAKH in html, page
        assert str(ONE_LAKH_PAISE) not in html and "10,000,000" not in html, page


def test_no_project_screen_shows_a_paise_column(ops, every_row):
    """Every `*_paise` field of every project model, as a list column or a read-only field, is shown
    in rupees; the one editable (a section's price) is an input labelled in paise, rupees beside it."""
    for model in [m for m in admin.site._registry if m.__module__.startswith("apps.")]:
        row = model._default_manager.order_by("pk").first()
        for page in [admin_url(model, "changelist"), admin_url(model, "change", row.pk)]:
            html = ops.get(page).content.decode()
            shown = set(re.findall(r'class="[^"]*\b(?:field|column)-(\w+_paise)\b', html))
            if model is Event and page.endswith("/change/"):
                assert shown == {"price_paise"}
                [price_input] = re.findall(r'<input[^>]*name="sections-0-price_paise"[^>]*>', html)
                assert 'value="10000000"' in price_input and "vBigIntegerField" in price_input  # 8 digits fit
                assert f'aria-label="Price in paise, {every_row["event"].slug}: Standard"' in price_input
                section_row = re.search(r'<tr[^>]*id="sections-0".*?</tr>', html, re.S).group(0)
                assert re.search(r'class="field-price_in_rupees">\s*<p>₹1,00,000</p>', section_row)
            else:
                assert not shown, (page, shown)


def event_form(event=None, **changes) -> dict:
    """The admin's event form as a browser posts it (no sections added)."""
    starts = timezone.localtime(timezone.now() + timedelta(days=5))
    opens = timezone.localtime(timezone.now() - timedelta(hours=1))
    data = {
        "name": "Night Show",
        "slug": "night-show",
        "venue": "Hall",
        "description": "",
        "starts_at_0": starts.strftime("%Y-%m-%d"),
        "starts_at_1": starts.strftime("%H:%M:%S"),
        "sale_opens_at_0": opens.strftime("%Y-%m-%d"),
        "sale_opens_at_1": opens.strftime("%H:%M:%S"),
        "status": Event.Status.DRAFT,
        "max_seats_per_buyer": "6",
        "max_held_seats_per_ip": "",
        "hold_minutes": "8",
        "time_zone": "Asia/Kolkata",
        "sections-TOTAL_FORMS": "0",
        "sections-INITIAL_FORMS": "0",
        "sections-MIN_NUM_FORMS": "0",
        "sections-MAX_NUM_FORMS": "1000",
    }
    if event is not None:
        data.update(name=event.name, slug=event.slug)
        sections = list(event.sections.all())
        data["sections-TOTAL_FORMS"] = data["sections-INITIAL_FORMS"] = str(len(sections))
        for i, section in enumerate(sections):
            data.update(
                {
                    f"sections-{i}-id": str(section.pk),
                    f"sections-{i}-event": str(event.pk),
                    f"sections-{i}-name": section.name,
                    f"sections-{i}-price_paise": str(section.price_paise),
                    f"sections-{i}-position": str(section.position),
                }
            )
    return {**data, **changes}


def test_a_new_event_cannot_be_put_on_sale_before_it_has_seats(ops):
    response = ops.post(admin_url(Event, "add"), event_form(status=Event.Status.ON_SALE))
    assert response.status_code == 200
    assert "has no seats to sell, so it cannot go on sale" in response.content.decode()
    assert not Event.objects.filter(slug="night-show").exists()

    # As a draft it is saved: its seats come next.
    response = ops.post(admin_url(Event, "add"), event_form())
    assert response.status_code == 302
    assert Event.objects.get(slug="night-show").status == Event.Status.DRAFT


def test_a_draft_without_seats_is_refused_on_sale_and_one_with_seats_goes_on_sale(ops):
    empty = services.create_event(
        slug="empty", name="Empty Hall", starts_at=timezone.now() + timedelta(days=3), status=Event.Status.DRAFT
    )
    url = admin_url(Event, "change", empty.pk)
    response = ops.post(url, event_form(empty, status=Event.Status.ON_SALE))
    assert response.status_code == 200
    assert "“Empty Hall” has no seats to sell" in response.content.decode()
    assert Event.objects.get(pk=empty.pk).status == Event.Status.DRAFT

    ready = make_event(status=Event.Status.DRAFT)
    response = ops.post(admin_url(Event, "change", ready.pk), event_form(ready, status=Event.Status.ON_SALE))
    assert response.status_code == 302
    assert Event.objects.get(pk=ready.pk).status == Event.Status.ON_SALE


def test_the_put_on_sale_action_refuses_events_without_seats_and_says_why(ops):
    empty = services.create_event(
        slug="empty", name="Empty Hall", starts_at=timezone.now() + timedelta(days=3), status=Event.Status.DRAFT
    )
    ready = make_event(status=Event.Status.DRAFT, name="Full Hall")
    response = ops.post(
        admin_url(Event, "changelist"),
        {"action": "put_on_sale", "_selected_action": [str(empty.pk), str(ready.pk)]},
        follow=True,
    )
    html = response.content.decode()
    assert "“Empty Hall” has no seats to sell, so it cannot go on sale" in html
    assert "Full Hall: now on sale." in html
    assert Event.objects.get(pk=empty.pk).status == Event.Status.DRAFT
    assert Event.objects.get(pk=ready.pk).status == Event.Status.ON_SALE
    assert AuditEntry.objects.filter(action="put on sale", target=f"event {ready.slug}", actor_name="ops").exists()


def test_the_seat_grid_action_says_the_prices_in_rupees(ops):
    event = services.create_event(
        slug="grid", name="Grid Hall", starts_at=timezone.now() + timedelta(days=3), status=Event.Status.DRAFT
    )
    response = ops.post(
        admin_url(Event, "changelist"),
        {
            "action": "generate_seat_grid",
            "_selected_action": [str(event.pk)],
            "apply": "Generate seats",
            "seats_per_row": "10",
            "tiers": f"Premium, 1, {ONE_LAKH_PAISE}\nStandard, 2, 120000",
        },
        follow=True,
    )
    assert "Grid Hall: created 30 seats (Premium ₹1,00,000, Standard ₹1,200)." in response.content.decode()
    assert event.seats.count() == 30


def links(html: str, text: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(rf'<a href="([^"]+)">{text}', html)]


def test_a_booking_links_to_its_payment_and_refunds_and_they_link_back(ops, every_row):
    booking, payment = every_row["booking"], every_row["payment"]
    other = paid_booking(booking.event, ["A-2"], 3)  # another order, whose money must not show
    other_payment = Payment.objects.get(intent_id=other.intent_id)
    Refund.objects.create(
        payment=other_payment,
        refund_id="rfnd_other",
        razorpay_payment_id="pay_admin3",
        idempotency_key="full-pay_admin3",
        amount_paise=other_payment.amount_paise,
        reason="x",
    )
    html = ops.get(admin_url(type(booking), "change", booking.pk)).content.decode()
    [payment_list] = links(html, f"Payment of booking {booking.reference}")
    [refund_list] = links(html, f"Refunds of booking {booking.reference}")

    payments = ops.get(payment_list)
    assert payments.status_code == 200
    assert payment.order_id in payments.content.decode() and other_payment.order_id not in payments.content.decode()
    assert "1 payment" in payments.content.decode()
    refunds = ops.get(refund_list)
    assert refunds.status_code == 200
    assert "rfnd_admin1" in refunds.content.decode() and "rfnd_other" not in refunds.content.decode()

    booking_page = admin_url(type(booking), "change", booking.pk)
    for page in [
        admin_url(Payment, "change", payment.pk),
        admin_url(Refund, "change", Refund.objects.get(refund_id="rfnd_admin1").pk),
    ]:
        assert booking_page in links(ops.get(page).content.decode(), booking.reference), page
    assert (
        f'<a href="{booking_page}">{booking.reference}</a>'
        in ops.get(admin_url(Payment, "changelist")).content.decode()
    )
