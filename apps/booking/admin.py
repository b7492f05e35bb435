"""Ops screens. Actions call services; nothing here changes seat state directly.

Holds, bookings and their seats are records of what buyers did and paid for: they can be viewed
and acted on (release), never added or edited by hand. A hand-made booked seat once made a paid
confirmation fail with an IntegrityError."""

import csv
from itertools import chain
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.booking import selectors, services
from apps.booking.errors import BookingError
from apps.booking.models import BookedSeat, Booking, BookingIntent, Cancellation, Event, IntentSeat, Seat, Section
from apps.core.admin_base import OpsModelAdmin, OpsTabularInline, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from apps.core.money import format_rupees


class SeatGridForm(forms.Form):
    seats_per_row = forms.IntegerField(min_value=1, max_value=500, initial=20)
    tiers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        initial="Premium, 5, 250000\nStandard, 15, 120000",
        help_text=(
            "One line per section: name, number of rows, price in paise (₹1,200 is 120000). "
            "Rows are added after existing ones."
        ),
    )

    def clean_tiers(self):
        tiers = []
        for line in self.cleaned_data["tiers"].splitlines():
            if not line.strip():
                continue
            try:
                name, rows, price = (part.strip() for part in line.split(","))
                tiers.append((name, int(rows), int(price)))
            except ValueError:
                raise forms.ValidationError(f"Cannot read {line!r}: use 'name, rows, price in paise'.") from None
        if not tiers:
            raise forms.ValidationError("Give at least one section.")
        return tiers


class SectionInline(OpsTabularInline):
    model = Section
    fields = ["name", "price_paise", "position"]
    extra = 0


class EventForm(forms.ModelForm):
    def clean_status(self):
        """Going on sale (a new event, or a change of status) asks the booking rules first. Calling
        an event off is the "Call off event…" action's (it refunds every booking), never a status edit."""
        status = self.cleaned_data["status"]
        if status != self.instance.status and Event.Status.CANCELLED in (status, self.instance.status):
            raise forms.ValidationError(
                'An event is called off with the action "Call off event…" (it refunds every booking), '
                "and a called-off event stays so.",
                code="call_off",
            )
        if status == Event.Status.ON_SALE and (self.instance.pk is None or "status" in self.changed_data):
            try:
                services.check_can_go_on_sale(event=self.instance)
            except BookingError as error:
                raise forms.ValidationError(error.message, code=error.code) from None
        return status


class _Echo:
    """What csv.writer writes to when each row goes straight to the response (Django's "Streaming
    large CSV files")."""

    def write(self, value: str) -> str:
        return value


def attendee_csv(event: Event) -> StreamingHttpResponse:
    """The attendee list streamed row by row: a big event never sits in memory. A byte-order mark
    first, so Excel reads the names as UTF-8."""
    writer = csv.writer(_Echo())
    rows = (writer.writerow(row) for row in selectors.attendee_rows(event))
    response = StreamingHttpResponse(chain(["\ufeff"], rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="attendees-{event.slug}.csv"'
    return response


@admin.register(Event)
class EventAdmin(OpsModelAdmin):
    list_display = [
        "name",
        "slug",
        "venue",
        "starts_at",
        "sale_opens_at",
        "status",
        "max_seats_per_buyer",
        "max_held_seats_per_ip",
    ]
    list_filter = ["status"]
    search_fields = ["name", "slug", "venue"]
    prepopulated_fields = {"slug": ["name"]}
    form = EventForm
    inlines = [SectionInline]
    actions = ["generate_seat_grid", "put_on_sale", "export_attendees", "call_off_events"]

    def has_call_off_permission(self, request) -> bool:
        """Calling an event off cancels and refunds every booking: for whoever may cancel bookings
        and change events."""
        return request.user.has_perm("booking.cancel_booking") and request.user.has_perm("booking.change_event")

    def has_export_permission(self, request) -> bool:
        """The attendee list is the bookings' personal data: for whoever may view bookings."""
        return request.user.has_perm("booking.view_booking")

    def get_readonly_fields(self, request, obj=None):
        """An existing event shows who is in, and (to those who may export) the attendee list."""
        shown = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            shown.append("checked_in")
            if obj.status == Event.Status.CANCELLED:
                shown.append("call_off_progress")
            if self.has_export_permission(request):
                shown.append("attendee_list")
        return shown

    @admin.display(description="Checked in")
    def checked_in(self, obj: Event) -> str:
        return str(selectors.check_in_counts(obj))

    @admin.display(description="Call-off progress")
    def call_off_progress(self, obj: Event) -> str:
        progress = selectors.call_off_progress(obj)
        reasons = format_html_join("", "<li>{} × {}</li>", ((n, reason) for reason, n in progress.reasons))
        return format_html(
            '<span id="call-off-progress">{} refunded, {} pending, {} failed (retried with backoff), '
            "{} booking(s) still to cancel{}</span>{}",
            progress.refunded,
            progress.pending,
            progress.failed,
            progress.to_cancel,
            ": done" if progress.done else "",
            format_html("<ul>{}</ul>", reasons) if progress.reasons else "",
        )

    @admin.display(description="Attendees")
    def attendee_list(self, obj: Event) -> str:
        url = reverse("admin:booking_event_attendees", args=[obj.pk])
        return format_html('<a href="{}">Export attendees of {} (CSV)</a>', url, obj.name)

    def get_urls(self):
        export = path(
            "<int:event_id>/attendees.csv",
            self.admin_site.admin_view(self.attendees_csv),
            name="booking_event_attendees",
        )
        return [export, *super().get_urls()]

    def attendees_csv(self, request, event_id: int):
        if not self.has_export_permission(request):
            raise PermissionDenied
        return attendee_csv(get_object_or_404(Event, pk=event_id))

    @admin.action(description="Export attendees (CSV)", permissions=["export"])
    def export_attendees(self, request, queryset):
        events = list(queryset[:2])
        if len(events) != 1:
            self.message_user(request, "Choose one event to export its attendees.", messages.ERROR)
            return None
        return attendee_csv(events[0])

    @admin.action(description="Call off event…", permissions=["call_off"])
    def call_off_events(self, request, queryset):
        """A confirmation page first (what will happen, and a reason for the buyers); then one
        service call per event, and the refunds run as a job (progress on the event's page)."""
        events = list(queryset.order_by("pk"))
        reason = request.POST.get("reason", "").strip()
        if "apply" in request.POST and reason:
            for event in events:
                try:
                    called_off = services.call_off_event(event_id=event.pk, reason=reason, acting_user=request.user)
                except BookingError as error:
                    self.message_user(request, f"{event}: {error.message}", messages.ERROR)
                    continue
                if called_off:
                    self.message_user(
                        request,
                        f"{event}: called off. Sales stopped, holds released; every booking is being cancelled "
                        "and refunded (progress on the event's page).",
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(request, f"{event}: was already called off.", messages.WARNING)
            return None
        summaries = selectors.call_off_summaries([e.pk for e in events])
        context = {
            **self.admin_site.each_context(request),
            "title": "Call off events",
            "summaries": summaries,
            "reason": reason,
            "reason_missing": "apply" in request.POST and not reason,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/booking/call_off_event.html", context)

    @admin.action(description="Put on sale (events with seats)")
    def put_on_sale(self, request, queryset):
        for event in queryset:
            try:
                changed = services.put_on_sale(event=event, acting_user=request.user)
            except BookingError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, f"{event}: {'now on sale' if changed else 'already on sale'}.")

    @admin.action(description="Generate a seat grid (rows x seats per row, by section)")
    def generate_seat_grid(self, request, queryset):
        if "apply" in request.POST:
            form = SeatGridForm(request.POST)
            if form.is_valid():
                for event in queryset:
                    try:
                        count = services.generate_seat_grid(
                            event=event,
                            seats_per_row=form.cleaned_data["seats_per_row"],
                            tiers=form.cleaned_data["tiers"],
                        )
                    except BookingError as error:
                        self.message_user(request, f"{event}: {error.message}", messages.ERROR)
                    else:
                        # The sections' own prices: a section that already existed keeps its price.
                        names = [name for name, _, _ in form.cleaned_data["tiers"]]
                        prices = ", ".join(
                            f"{section.name} {format_rupees(section.price_paise)}"
                            for section in event.sections.filter(name__in=names)
                        )
                        self.message_user(request, f"{event}: created {count} seats ({prices}).", messages.SUCCESS)
                return None
        else:
            form = SeatGridForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Generate seat grid",
            "form": form,
            "events": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/booking/seat_grid.html", context)


@admin.register(Seat)
class SeatAdmin(OpsModelAdmin):
    list_display = ["label", "event", "section", "status", "version", "hold_expires_at", "intent"]
    list_filter = ["event", "status", "section__name"]
    search_fields = ["label", "intent__buyer_email"]
    list_select_related = ["event", "section"]
    raw_id_fields = ["intent"]
    readonly_fields = ["version", "status", "hold_expires_at", "intent"]


class IntentSeatInline(ReadOnlyInlineMixin, OpsTabularInline):
    model = IntentSeat
    fields = readonly_fields = ("seat",)


@admin.register(BookingIntent)
class BookingIntentAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    list_display = [
        "id",
        "event",
        "buyer_email",
        "buyer_phone",
        "amount_paise",
        "status",
        "expires_at",
        "client_ip",
        "created_at",
    ]
    list_filter = ["status", "event"]
    # Staff look at holds here, never through the buyer's URLs (those answer only the owner).
    search_fields = ["buyer_email", "buyer_phone", "buyer_name", "id", "booking__reference", "client_ip", "session_ref"]
    list_select_related = ["event"]
    readonly_fields = [f.name for f in BookingIntent._meta.fields]
    inlines = [IntentSeatInline]
    actions = ["release_holds"]

    @admin.action(description="Release the selected holds now")
    def release_holds(self, request, queryset):
        released = sum(
            services.release_intent(intent_id=pk, acting_user=request.user)
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Released {released} hold(s); the others had already ended.")


class BookedSeatInline(ReadOnlyInlineMixin, OpsTabularInline):
    model = BookedSeat
    fields = readonly_fields = ("seat", "price_paise", "active", "cancellation", "checked_in_at", "checked_in_gate")


class CancellationInline(ReadOnlyInlineMixin, OpsTabularInline):
    model = Cancellation
    fields = readonly_fields = (
        "created_at",
        "amount_paise",
        "seats_released",
        "call_off",
        "reason",
        "actor_name",
        "refunded_at",
        "refund_error",
    )


class CancelBookingsForm(forms.Form):
    """The choices of the cancellation page that apply to every booking chosen."""

    SEATS_AFTER = [("release", "Put the seats back on sale"), ("block", "Block the seats (nobody can buy them)")]

    seats_after = forms.ChoiceField(choices=SEATS_AFTER, widget=forms.RadioSelect, initial="release")
    reason = forms.CharField(max_length=200, help_text="The buyer reads it in the cancellation email.")


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    list_display = [
        "reference",
        "event",
        "buyer_name",
        "buyer_email",
        "buyer_phone",
        "amount_paise",
        "status",
        "created_at",
    ]
    list_filter = ["event", "status"]
    search_fields = ["reference", "buyer_email", "buyer_phone", "buyer_name"]
    list_select_related = ["event"]
    readonly_fields = [*(f.name for f in Booking._meta.fields), "payment", "refunds"]
    inlines = [BookedSeatInline, CancellationInline]
    actions = ["resend_ticket_email", "cancel_bookings"]

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("booking.cancel_booking")

    @admin.action(description="Cancel bookings…", permissions=["cancel"])
    def cancel_bookings(self, request, queryset):
        """A confirmation page first: per booking its seats (all ticked; untick to cancel in part),
        what was paid and what will be refunded; seats back on sale or blocked; the buyer is emailed.
        Then one service call per booking, decided by the database (a second operator gets
        "already cancelled")."""
        plans = selectors.cancellation_plans(list(queryset.values_list("pk", flat=True)))
        form = CancelBookingsForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for plan in plans:
                booking = plan.booking
                chosen = {int(v) for v in request.POST.getlist(f"seats-{booking.pk}") if v.isdigit()}
                if not chosen:
                    self.message_user(request, f"{booking}: no seat chosen, nothing cancelled.", messages.WARNING)
                    continue
                try:
                    cancellation = services.cancel_booking(
                        booking_id=booking.pk,
                        booked_seat_ids=chosen,
                        release_seats=form.cleaned_data["seats_after"] == "release",
                        reason=form.cleaned_data["reason"],
                        acting_user=request.user,
                    )
                except BookingError as error:
                    self.message_user(request, f"{booking}: {error.message}", messages.ERROR)
                    continue
                self.message_user(
                    request,
                    f"{booking}: {cancellation.seats.count()} seat(s) cancelled; "
                    f"{format_rupees(cancellation.amount_paise)} is being refunded and the buyer emailed.",
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel bookings",
            "plans": plans,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/booking/cancel_bookings.html", context)

    @admin.action(description="Resend the ticket email of the selected bookings")
    def resend_ticket_email(self, request, queryset):
        booking_ids = list(queryset.values_list("pk", flat=True))
        for booking_id in booking_ids:
            services.request_ticket_email(booking_id=booking_id, acting_user=request.user)
        self.message_user(
            request,
            f"The ticket email of {len(booking_ids)} booking(s) is on its way to the buyer.",
            messages.SUCCESS,
        )

    # The payments app keeps the money of an order (keyed by its intent); the booking core does not
    # import it, so these are links to its screens, filtered to this order.
    @admin.display(description="payment")
    def payment(self, obj: Booking) -> str:
        url = reverse("admin:payments_payment_changelist") + "?" + urlencode({"intent": obj.intent_id})
        return format_html('<a href="{}">Payment of booking {}</a>', url, obj.reference)

    @admin.display(description="refunds")
    def refunds(self, obj: Booking) -> str:
        url = reverse("admin:payments_refund_changelist") + "?" + urlencode({"payment__intent": obj.intent_id})
        return format_html('<a href="{}">Refunds of booking {}</a>', url, obj.reference)
