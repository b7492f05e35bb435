"""The base of the project's one error hierarchy. Every error a user can meet is an
`ApplicationError`: it carries what the user reads, the HTTP status, a stable code for API
clients and, where waiting helps, how long to wait. `apps.core.http.error_response` turns any
of them into the answer, so each app states *what* went wrong and never builds the response."""


class ApplicationError(Exception):
    status = 400
    code = "error"
    message = "Something went wrong."
    template = "error.html"  # the page people see (API clients get JSON)
    retry_after: int | None = None  # seconds; sets Retry-After when given

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message

    def extra(self) -> dict:
        """Fields an API client gets beside `error` and `detail` (e.g. the seats that were taken)."""
        return {}


class ServiceUnavailable(ApplicationError):
    """A dependency (database, Redis, ...) is down or saturated: a clear 503 the client retries,
    never a 500 page."""

    status = 503
    code = "unavailable"
    template = "503.html"
    retry_after = 5

    def __init__(self, what: str, retry_after: int | None = None):
        super().__init__(f"We are very busy right now ({what}). Please try again in a few seconds.")
        self.what = what
        if retry_after is not None:
            self.retry_after = retry_after
