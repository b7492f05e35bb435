from django import forms
from django.core.validators import RegexValidator

from apps.booking.services import REFERENCE_ALPHABET, REFERENCE_LENGTH

SEAT_LABEL = RegexValidator(r"^[A-Za-z]{1,3}-\d{1,4}$", "Seat labels look like A-12.")


class HoldForm(forms.Form):
    """The buyer's details. Seats come as repeated `seat` fields and are checked by the service."""

    name = forms.CharField(max_length=120, strip=True)
    email = forms.EmailField(max_length=254)
    phone = forms.RegexField(
        regex=r"^\+?[0-9][0-9 -]{6,18}$",
        max_length=20,
        error_messages={"invalid": "Enter a phone number of 7 to 15 digits, e.g. +91 98765 43210."},
    )

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.seat_labels = [label.strip() for label in data.getlist("seat") if label.strip()]

    def clean(self):
        cleaned = super().clean()
        if not self.seat_labels:
            raise forms.ValidationError("Choose at least one seat.")
        if len(self.seat_labels) > 50:
            raise forms.ValidationError("Too many seats.")
        for label in self.seat_labels:
            SEAT_LABEL(label)
        return cleaned


class FindTicketsForm(forms.Form):
    """Find my tickets: the buyer's email and booking reference (as printed: letter case and
    spaces do not matter). Malformed input is refused before anything is looked up or sent."""

    email = forms.EmailField(max_length=254, label="Email you booked with")
    reference = forms.CharField(
        max_length=20,
        label="Booking reference",
        help_text="8 letters and digits, from your confirmation email, e.g. K7PM2QXA.",
    )

    def clean_reference(self):
        reference = "".join(self.cleaned_data["reference"].split()).upper()
        if len(reference) != REFERENCE_LENGTH or any(c not in REFERENCE_ALPHABET for c in reference):
            raise forms.ValidationError(
                f"A booking reference is {REFERENCE_LENGTH} letters and digits (no 0, 1, I or O), e.g. K7PM2QXA."
            )
        return reference
