"""Errors of the booking core, in the project's one hierarchy (`apps.core.errors.ApplicationError`):
each carries the message a buyer sees and the HTTP status, turned into the answer in one place
(`apps.core.http.error_response`)."""

from apps.core.errors import ApplicationError


class BookingError(ApplicationError):
    status = 400
    code = "booking_error"
    message = "Something went wrong with your booking."


class InvalidRequest(BookingError):
    status = 400
    code = "invalid"


class InvalidForm(InvalidRequest):
    """The hold form did not validate: `fields` is Django's `form.errors.get_json_data()`."""

    message = "Please correct the fields of the form."

    def __init__(self, fields: dict):
        self.fields = fields
        super().__init__()

    def extra(self) -> dict:
        return {"fields": self.fields}


class UnknownSeats(InvalidRequest):
    code = "unknown_seats"

    def __init__(self, labels):
        self.labels = sorted(labels)
        super().__init__(f"These seats do not exist for this event: {', '.join(self.labels)}.")


class NotOnSale(BookingError):
    status = 409
    code = "not_on_sale"
    message = "Tickets for this event are not on sale right now."


class NoSeatsToSell(BookingError):
    """An event cannot go on sale before it has seats: buyers would only ever see "Sold out"."""

    status = 409
    code = "no_seats_to_sell"

    def __init__(self, event_name: str):
        super().__init__(
            f"“{event_name}” has no seats to sell, so it cannot go on sale: keep it as a draft, "
            "generate its seats (action “Generate a seat grid”), then put it on sale."
        )


class SeatsUnavailable(BookingError):
    status = 409
    code = "unavailable"

    def __init__(self, labels):
        self.labels = sorted(labels)
        super().__init__(f"Sorry, these seats were just taken: {', '.join(self.labels)}.")

    def extra(self) -> dict:
        return {"unavailable": self.labels}


class LimitExceeded(BookingError):
    status = 409
    code = "limit_exceeded"

    def __init__(self, limit: int, already: int):
        self.limit, self.already = limit, already
        super().__init__(f"You can hold or buy at most {limit} seats for this event; you already have {already}.")


class HoldCapReached(LimitExceeded):
    """Too many seats held at once by one browser or from one network address: the cap against
    hoarding (OWASP OAT-021, denial of inventory). It lifts as those holds end or are paid."""

    code = "too_many_held"

    def __init__(self, limit: int, already: int, *, per: str):
        self.limit, self.already, self.per = limit, already, per
        if per == "visitor":
            message = (
                f"You can hold at most {limit} seats for this event at a time; this browser already holds {already}."
            )
        else:
            message = (
                f"Too many seats for this event are held from your network right now (at most {limit} at a time). "
                "Please try again when one of those holds ends."
            )
        BookingError.__init__(self, message)


class HoldExpired(BookingError):
    status = 410
    code = "expired"
    message = "This hold has expired and its seats went back on sale."


class IntentNotFound(BookingError):
    status = 404
    code = "not_found"
    message = "No such hold."


class TooManyAttempts(BookingError):
    """Find my tickets asked too often, from one address or for one email: a mail bomb or a guesser."""

    status = 429
    code = "rate_limited"
    template = "booking/find_tickets_limited.html"

    def __init__(self, retry_after: int):
        self.retry_after = max(1, retry_after)
        super().__init__(f"Too many requests for tickets. Please try again in {self.retry_after} seconds.")


class AlreadyCancelled(BookingError):
    """The seats to cancel are no longer active: another cancellation (a second operator, a retry)
    won them first. Nothing was changed."""

    status = 409
    code = "already_cancelled"
    message = "Already cancelled: these seats were cancelled by someone else a moment ago."
