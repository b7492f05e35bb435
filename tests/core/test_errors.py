"""The one mapper: any application error becomes JSON of one shape or a page, with Retry-After
where the error says how long to wait; a view may show the error on its own page."""

import json
import uuid

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client, RequestFactory

from apps.booking.errors import IntentNotFound, SeatsUnavailable
from apps.core.errors import ApplicationError, ServiceUnavailable
from apps.core.http import error_response
from apps.core.middleware import ErrorMiddleware
from apps.payments.errors import GatewayUnavailable
from apps.waitingroom.errors import InWaitingRoom, RateLimited

JSON = "application/json"


def get(accept: str = "text/html"):
    return RequestFactory().get("/anywhere/", HTTP_ACCEPT=accept)


def body(response) -> dict:
    return json.loads(response.content)


def test_json_has_one_shape_with_the_error_s_own_fields():
    taken = error_response(get(JSON), SeatsUnavailable(["A-2", "A-1"]))
    assert taken.status_code == 409 and taken["Content-Type"] == JSON
    assert body(taken) == {
        "error": "unavailable",
        "detail": "Sorry, these seats were just taken: A-1, A-2.",
        "unavailable": ["A-1", "A-2"],
    }
    assert not taken.has_header("Retry-After")
    queued = error_response(get(JSON), InWaitingRoom("/queue/drop/", 5))
    assert queued.status_code == 429 and queued["Retry-After"] == "5"
    assert body(queued) == {
        "error": "waiting_room",
        "detail": "You are in the waiting room.",
        "queue_url": "/queue/drop/",
    }


def test_retry_after_is_set_where_the_error_says_how_long_to_wait():
    for accept in (JSON, "text/html"):
        limited = error_response(get(accept), RateLimited(7))
        assert limited.status_code == 429 and limited["Retry-After"] == "7", accept
        down = error_response(get(accept), ServiceUnavailable("database"))
        assert down.status_code == 503 and down["Retry-After"] == "5", accept
        gateway = error_response(get(accept), GatewayUnavailable("connect timeout to 10.0.0.7"))
        assert gateway.status_code == 503 and gateway["Retry-After"] == "10", accept
    assert body(error_response(get(JSON), RateLimited(7))) == {
        "error": "rate_limited",
        "detail": "Too many attempts. Please try again in 7 seconds.",
    }


def test_a_gateway_error_shows_its_message_never_razorpay_s_reason():
    error = GatewayUnavailable("connect timeout to 10.0.0.7")
    assert str(error) == "connect timeout to 10.0.0.7"  # for logs and ops
    answer = body(error_response(get(JSON), error))
    assert answer["error"] == "gateway_unavailable" and "10.0.0.7" not in answer["detail"]


def test_people_get_the_error_s_page():
    missing = error_response(get(), IntentNotFound())
    assert missing.status_code == 404 and "text/html" in missing["Content-Type"]
    assert "No such hold." in missing.content.decode()
    limited = error_response(get(), RateLimited(3)).content.decode()
    assert "One moment" in limited and "try again in 3 seconds" in limited  # waitingroom/too_many.html
    busy = error_response(get(), ServiceUnavailable("cache", 9)).content.decode()
    assert "Hold on a moment" in busy and 'content="9"' in busy  # 503.html retries by itself


def test_a_view_may_show_the_error_on_its_own_page_and_json_stays_the_same():
    def page(error: ApplicationError) -> HttpResponse:
        return HttpResponse(f"the seat map: {error.message}", status=error.status)

    shown = error_response(get(), RateLimited(4), page=page)
    assert shown.status_code == 429 and shown.content.startswith(b"the seat map: Too many")
    assert shown["Retry-After"] == "4"
    assert body(error_response(get(JSON), RateLimited(4), page=page))["error"] == "rate_limited"
    assert body(error_response(get(), RateLimited(4), page=page, as_json=True))["error"] == "rate_limited"


def test_the_middleware_maps_application_errors_and_outages_and_nothing_else():
    mapper = ErrorMiddleware(lambda request: HttpResponse())
    assert mapper.process_exception(get(JSON), IntentNotFound()).status_code == 404
    down = mapper.process_exception(get(JSON), OperationalError("connection refused"))
    assert down.status_code == 503 and down["Retry-After"] == "5"
    assert body(down)["error"] == "unavailable" and "database" in body(down)["detail"]
    assert mapper.process_exception(get(JSON), ValueError("a bug")) is None  # a bug stays a 500


@pytest.mark.django_db
def test_an_error_a_view_lets_through_is_answered_by_the_mapper():
    stranger = f"/checkout/{uuid.uuid4()}/release/"
    answer = Client().post(stranger, HTTP_ACCEPT=JSON)
    assert answer.status_code == 404 and body(answer) == {"error": "not_found", "detail": "No such hold."}
    page = Client().post(stranger)
    assert page.status_code == 404 and "No such hold." in page.content.decode()
