from django import forms
from django.core.validators import RegexValidator

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
