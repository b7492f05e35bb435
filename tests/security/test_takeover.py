"""Item 1 of the security issue: a hold belongs to the client that made it.

Attacks made as the report made them, over HTTP through the test client: each client is a browser of
its own (a fresh cookie jar), the victim's hold is made through the hold form, and the stranger knows
the victim's seats, email and (worst case) intent id."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.booking import services as booking_services
from apps.booking.models import Booking, BookingIntent, Seat
from apps.payments.models import Payment
from apps.waitingroom import tokens
from tests.factories import make_event
from tests.payments.conftest import pay

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM = {"name": "Meera Victim", "email": "meera.victim@example.com", "phone": "+91 99887 76655"}
JSON = {"HTTP_ACCEPT": "application/json"}


def hold(client: Client, event, labels: list[str], details: dict, **extra):
    return client.post(f"/events/{event.slug}/hold/", {"seat": labels, **details}, **extra)


def victim_hold(event, labels=("A-1", "A-2")) -> tuple[Client, BookingIntent]:
    victim = Client()
    response = hold(victim, event, list(labels), VICTIM, **JSON)
    assert response.status_code == 201, response.content
    return victim, BookingIntent.objects.get(pk=response.json()["intent"])


def seats_state(event) -> list[tuple]:
    return list(Seat.objects.filter(event=event).order_by("id").values_list("label", "status", "intent_id", "version"))


def intent_state(intent: BookingIntent) -> tuple:
    intent = BookingIntent.objects.get(pk=intent.pk)
    return intent.status, intent.expires_at, intent.extended_at


@pytest.mark.parametrize(
    "email", ["meera.victim@example.com", "MEERA.Victim@Example.COM", "  Meera.Victim@example.com "]
)
@pytest.mark.parametrize("as_json", [True, False])
def test_same_seats_and_email_from_another_client_is_a_conflict_never_the_victims_hold(email, as_json):
    event = make_event()
    _, intent = victim_hold(event)
    before = seats_state(event)
    stranger = Client()
    response = hold(stranger, event, ["A-2", "A-1"], {**VICTIM, "email": email}, **(JSON if as_json else {}))
    assert response.status_code == 409
    assert str(intent.id) not in response.content.decode()
    assert str(intent.id) not in response.get("Location", "")
    assert BookingIntent.objects.count() == 1
    assert seats_state(event) == before


def test_the_owner_repeating_the_submit_gets_its_own_hold_back():
    event = make_event()
    victim, intent = victim_hold(event)
    again = hold(victim, event, ["A-2", "A-1"], VICTIM, **JSON)
    assert again.status_code == 200 and again.json()["intent"] == str(intent.id)
    page = hold(victim, event, ["A-1", "A-2"], VICTIM)
    assert page.status_code == 303 and page["Location"] == f"/checkout/{intent.id}/"
    assert BookingIntent.objects.count() == 1


def test_a_repeat_submit_from_the_same_client_with_other_seats_is_a_new_hold_not_the_old_one():
    event = make_event()
    victim, intent = victim_hold(event, ["A-1"])
    other = hold(victim, event, ["A-3"], VICTIM, **JSON)
    assert other.status_code == 201 and other.json()["intent"] != str(intent.id)


def test_a_stranger_on_every_intent_url_gets_404_and_changes_nothing(gateway_url):
    event = make_event()
    victim, intent = victim_hold(event)
    page = victim.get(f"/checkout/{intent.id}/")
    assert page.status_code == 200 and VICTIM["phone"] in page.content.decode()
    payment = Payment.objects.get(intent=intent)
    before = (seats_state(event), intent_state(intent), Payment.objects.get(pk=payment.pk).status)

    stranger = Client()
    answer = pay(gateway_url, payment.order_id, "success")  # even a genuine payment answer does not help
    responses = {
        "checkout": stranger.get(f"/checkout/{intent.id}/"),
        "start": stranger.post(f"/checkout/{intent.id}/pay/start/", **JSON),
        "verify": stranger.post(f"/checkout/{intent.id}/pay/verify/", answer, **JSON),
        "release": stranger.post(f"/checkout/{intent.id}/release/"),
        "release (json)": stranger.post(f"/checkout/{intent.id}/release/", **JSON),
    }
    for name, response in responses.items():
        assert response.status_code == 404, (name, response.status_code)
        body = response.content.decode()
        assert VICTIM["email"] not in body and VICTIM["phone"] not in body and VICTIM["name"] not in body, name
    assert (seats_state(event), intent_state(intent), Payment.objects.get(pk=payment.pk).status) == before
    assert not Booking.objects.exists()

    # The owner is not disturbed: their verify confirms, and the checkout leads them to the ticket.
    confirmed = victim.post(f"/checkout/{intent.id}/pay/verify/", answer, **JSON)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed", confirmed.content
    assert victim.get(f"/checkout/{intent.id}/").status_code == 302


def test_after_payment_the_checkout_leads_only_the_owner_to_the_ticket():
    event = make_event()
    victim, intent = victim_hold(event)
    booking, _ = booking_services.confirm_intent(intent_id=intent.id)
    owner = victim.get(f"/checkout/{intent.id}/")
    assert owner.status_code == 302 and booking.reference in owner["Location"]
    stranger = Client().get(f"/checkout/{intent.id}/")
    assert stranger.status_code == 404
    assert booking.reference not in stranger.get("Location", "") + stranger.content.decode()


def test_staff_do_not_pass_the_owner_check_on_buyer_urls(gateway_url):
    event = make_event()
    _, intent = victim_hold(event)
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("ops", "ops@example.com", "x", is_staff=True))
    assert staff.get(f"/checkout/{intent.id}/").status_code == 404
    assert staff.post(f"/checkout/{intent.id}/release/").status_code == 404
    assert BookingIntent.objects.get(pk=intent.pk).status == BookingIntent.Status.HELD
    # Staff who buy are buyers like anyone: their own hold is theirs.
    own = hold(staff, event, ["B-1"], {**VICTIM, "email": "ops@example.com"}, **JSON)
    assert own.status_code == 201
    assert staff.get(own.json()["checkout_url"]).status_code == 200
    assert Client().get(own.json()["checkout_url"]).status_code == 404


def test_a_forged_or_oversized_visitor_cookie_is_replaced_and_reaches_nothing():
    event = make_event()
    victim, intent = victim_hold(event)
    genuine = victim.cookies[tokens.VISITOR_COOKIE].value
    visitor = tokens.visitor_id_of(genuine)
    assert visitor and intent.session_ref == visitor
    forgeries = {
        "the raw visitor id": visitor,
        "a made-up signature": f"{visitor}:{'A' * 27}",
        "the genuine cookie with a tail": genuine + "A" * 80,  # once cut to 64 characters
        "an oversized cookie": "v" * 4000,
    }
    for name, forged in forgeries.items():
        attacker = Client()
        attacker.cookies[tokens.VISITOR_COOKIE] = forged
        response = attacker.get(f"/checkout/{intent.id}/")
        assert response.status_code == 404, name
        replaced = response.cookies[tokens.VISITOR_COOKIE].value
        assert replaced != forged and tokens.visitor_id_of(replaced) not in (None, visitor), name
        taken = hold(attacker, event, ["A-1", "A-2"], VICTIM, **JSON)
        assert taken.status_code == 409, name
    assert BookingIntent.objects.count() == 1


def test_a_lapsed_hold_is_still_only_its_owners():
    """An expired hold's seats are free for anyone, but its intent stays its owner's."""
    event = make_event()
    victim, intent = victim_hold(event)
    BookingIntent.objects.filter(pk=intent.pk).update(expires_at=intent.expires_at - timedelta(hours=1))
    Seat.objects.filter(intent=intent).update(hold_expires_at=intent.expires_at - timedelta(hours=1))
    assert Client().get(f"/checkout/{intent.id}/").status_code == 404
    assert victim.get(f"/checkout/{intent.id}/").status_code == 200
    stranger = hold(Client(), event, ["A-1", "A-2"], VICTIM, **JSON)
    assert stranger.status_code == 201 and stranger.json()["intent"] != str(intent.id)
