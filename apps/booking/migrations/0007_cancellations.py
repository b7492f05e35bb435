"""Cancellations: a booked seat can be cancelled (`active` false) and its seat booked again, so
`BookedSeat.seat` is a plain foreign key and the guard is a conditional unique constraint (one
*active* booked seat per seat). Each booked seat keeps its price (backfilled from its section), what
a cancellation refunds. booking_hold_seats() (migration 0004) counts only active booked seats
against the per-buyer limit from now on: a cancelled ticket no longer uses up the buyer's allowance.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

_HOLD = importlib.import_module("apps.booking.migrations.0004_hold_seats_function")
_COUNTED = "JOIN booking_bookedseat b ON b.booking_id = k.id\n         WHERE k.event_id = p_event_id AND k.buyer_email = p_buyer_email);"
_COUNTED_ACTIVE = _COUNTED.replace("p_buyer_email);", "p_buyer_email AND b.active);")
assert _HOLD.HOLD_SEATS.count(_COUNTED) == 1, "migration 0004's text changed: update this replacement"


def count_active_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_HOLD.HOLD_SEATS.replace(_COUNTED, _COUNTED_ACTIVE), params=None)


def count_every_booked_seat(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_HOLD.HOLD_SEATS, params=None)


def backfill_prices(apps, schema_editor):
    BookedSeat = apps.get_model("booking", "BookedSeat")
    Section = apps.get_model("booking", "Section")
    price = models.Subquery(Section.objects.filter(seats=models.OuterRef("seat")).values("price_paise")[:1])
    BookedSeat.objects.update(price_paise=price)


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0006_booked_seat_check_in"),
    ]

    operations = [
        migrations.CreateModel(
            name="Cancellation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "amount_paise",
                    models.PositiveIntegerField(help_text="The refund due: the price of the seats cancelled."),
                ),
                (
                    "seats_released",
                    models.BooleanField(help_text="The seats went back on sale (else they were blocked)."),
                ),
                (
                    "call_off",
                    models.BooleanField(
                        default=False,
                        help_text="Part of calling the event off: its refund is paced by the call-off job.",
                    ),
                ),
                ("reason", models.CharField(max_length=200)),
                (
                    "actor_name",
                    models.CharField(blank=True, help_text="Who cancelled (empty: the system).", max_length=150),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "refunded_at",
                    models.DateTimeField(blank=True, help_text="Razorpay processed the refund.", null=True),
                ),
                (
                    "refund_error",
                    models.CharField(blank=True, help_text="The last failed refund attempt, for ops.", max_length=300),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.AlterModelOptions(
            name="booking",
            options={
                "ordering": ["-created_at"],
                "permissions": [("cancel_booking", "Can cancel bookings (and so refund them)")],
            },
        ),
        migrations.AddField(
            model_name="bookedseat",
            name="active",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="bookedseat",
            name="price_paise",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="booking",
            name="status",
            field=models.CharField(
                choices=[
                    ("CONFIRMED", "Confirmed"),
                    ("CANCELLED", "Cancelled (refund pending)"),
                    ("REFUNDED", "Cancelled and refunded"),
                    ("PARTLY_REFUNDED", "Partly refunded"),
                ],
                default="CONFIRMED",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="bookedseat",
            name="seat",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="booked_seats", to="booking.seat"
            ),
        ),
        migrations.AddIndex(
            model_name="booking",
            index=models.Index(fields=["event", "status"], name="booking_event_status_idx"),
        ),
        migrations.AddConstraint(
            model_name="booking",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["CONFIRMED", "CANCELLED", "REFUNDED", "PARTLY_REFUNDED"])),
                name="booking_status_valid",
            ),
        ),
        migrations.AddField(
            model_name="cancellation",
            name="booking",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="cancellations", to="booking.booking"
            ),
        ),
        migrations.AddField(
            model_name="bookedseat",
            name="cancellation",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="seats",
                to="booking.cancellation",
            ),
        ),
        migrations.AddConstraint(
            model_name="bookedseat",
            constraint=models.UniqueConstraint(
                condition=models.Q(("active", True)), fields=("seat",), name="bookedseat_one_active_per_seat"
            ),
        ),
        migrations.AddConstraint(
            model_name="bookedseat",
            constraint=models.CheckConstraint(
                condition=models.Q(("active", True), ("cancellation__isnull", False), _connector="OR"),
                name="bookedseat_inactive_has_cancellation",
            ),
        ),
        migrations.RunPython(backfill_prices, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(count_active_only, count_every_booked_seat, elidable=False),
    ]
