"""The emulator's configuration, gathered once by the management command (or a test) and passed down."""

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    key_id: str
    key_secret: str
    webhook_secret: str
    webhook_url: str
    redis_url: str
    # Webhook delivery: Razorpay waits 5 s for a 2xx, then retries with exponential backoff for 24 hours.
    webhook_timeout: float = 5.0
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    retry_for_seconds: float = 24 * 3600.0
    delivery_threads: int = 4
    # Gap between the events of one outcome, so that their order (or reversed order) is observable.
    event_gap: float = 0.05
    # How long a "late" payment stays `created` before the bank says yes.
    late_delay: float = 30.0
    prefix: str = "rzpemu:"

    @property
    def account_id(self) -> str:
        """A stable merchant account id for webhook envelopes, derived from the key id."""
        return "acc_" + hashlib.sha256(self.key_id.encode()).hexdigest()[:14]
