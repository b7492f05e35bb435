"""The emulator must never start where it is not enabled (production settings)."""

import pytest
from django.core.management import CommandError, call_command


def test_refuses_to_start_unless_enabled(settings):
    settings.RAZORPAY_EMULATOR_ENABLED = False
    with pytest.raises(CommandError, match="RAZORPAY_EMULATOR_ENABLED"):
        call_command("razorpay_emulator", "--port", "0")
