"""Errors of the waiting room, each with what the visitor sees and the HTTP status: part of the
project's one error hierarchy (`apps.core.errors.ApplicationError`), answered by
`apps.core.http.error_response` like every other."""

from apps.core.errors import ApplicationError


class WaitingRoomError(ApplicationError):
    code = "waiting_room_error"
    message = "Something went wrong in the waiting room."


class RateLimited(WaitingRoomError):
    status = 429
    code = "rate_limited"
    message = "Too many attempts from your connection. Please wait a moment."
    template = "waitingroom/too_many.html"

    def __init__(self, retry_after: int):
        self.retry_after = max(1, retry_after)
        super().__init__(f"Too many attempts. Please try again in {self.retry_after} seconds.")


class InWaitingRoom(WaitingRoomError):
    """An API client asked for a gated URL without an admission: its place is in the line."""

    status = 429
    code = "waiting_room"
    message = "You are in the waiting room."
    template = "waitingroom/too_many.html"

    def __init__(self, queue_url: str, retry_after: int):
        super().__init__()
        self.queue_url, self.retry_after = queue_url, retry_after

    def extra(self) -> dict:
        return {"queue_url": self.queue_url}


class UnknownEvent(WaitingRoomError):
    status = 404
    code = "not_found"
    message = "No such event."
