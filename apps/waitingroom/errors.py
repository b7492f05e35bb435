"""Errors of the waiting room, each with what the visitor sees and the HTTP status: part of the
project's one error hierarchy (`apps.booking.errors.BookingError`)."""

from apps.booking.errors import BookingError


class WaitingRoomError(BookingError):
    code = "waiting_room_error"
    message = "Something went wrong in the waiting room."


class RateLimited(WaitingRoomError):
    status = 429
    code = "rate_limited"
    message = "Too many attempts from your connection. Please wait a moment."

    def __init__(self, retry_after: int):
        self.retry_after = max(1, retry_after)
        super().__init__(f"Too many attempts. Please try again in {self.retry_after} seconds.")


class UnknownEvent(WaitingRoomError):
    status = 404
    code = "not_found"
    message = "No such event."
