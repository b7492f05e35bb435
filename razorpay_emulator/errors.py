"""Razorpay's error envelope, raised anywhere in the emulator and rendered in one place (the WSGI app)."""

from typing import Any


class ApiError(Exception):
    """An answer in Razorpay's error shape: the SDK picks its exception class from `code` alone."""

    def __init__(
        self,
        description: str,
        *,
        status: int = 400,
        code: str = "BAD_REQUEST_ERROR",
        field: str | None = None,
        source: str = "NA",
        step: str = "NA",
        reason: str = "NA",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.code = code
        self.field = field
        self.source = source
        self.step = step
        self.reason = reason
        self.metadata = metadata or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "description": self.description,
            "source": self.source,
            "step": self.step,
            "reason": self.reason,
            "metadata": self.metadata,
        }
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def validation_error(description: str, field: str | None = None) -> ApiError:
    """A 400 for bad input, as Razorpay words it (`reason: input_validation_failed`)."""
    return ApiError(
        description,
        field=field,
        source="business",
        step="payment_initiation",
        reason="input_validation_failed",
    )


def not_found() -> ApiError:
    """Razorpay answers unknown ids with a 400, not a 404."""
    return ApiError("The id provided does not exist", source="business", reason="input_validation_failed")
