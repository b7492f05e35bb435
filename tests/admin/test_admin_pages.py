"""The admin as an operator meets it, in headless Chromium with axe-core: the change list and the
change form of every project model, on a desktop and on a phone, have no serious or critical
accessibility violation."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from tests.browser.axe import blocking_violations
from tests.browser.conftest import shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def project_models() -> list:
    return sorted(
        (model for model in admin.site._registry if model.__module__.startswith("apps.")),
        key=lambda model: model._meta.label,
    )


def admin_pages(user) -> list[str]:
    """The change list and the change form (of its first row) of every project model, and its add
    form where ops may add one (an event: an operator's first step)."""
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = []
    for model in project_models():
        row = model._default_manager.order_by("pk").first()
        assert row is not None, f"no {model._meta.label} row to open: every model's change form is checked"
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append(reverse(f"{name}_changelist"))
        pages.append(reverse(f"{name}_change", args=[row.pk]))
        if admin.site._registry[model].has_add_permission(request):
            pages.append(reverse(f"{name}_add"))
    assert reverse("admin:booking_event_add") in pages
    return pages


def shown_pages(every_row) -> dict[str, str]:
    """The pages kept as screenshots (test-output/screenshots/admin-*.png): money, links and inlines."""
    return {
        reverse("admin:booking_event_change", args=[every_row["event"].pk]): "event",
        reverse("admin:booking_booking_change", args=[every_row["booking"].pk]): "booking",
        reverse("admin:payments_payment_change", args=[every_row["payment"].pk]): "payment",
    }


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_admin_page_has_no_serious_accessibility_violation(
    browser, live_server, ops, ops_user, every_row, viewport
):
    assert {"booking.Event", "booking.Booking", "payments.Payment", "payments.Refund"} <= {
        model._meta.label for model in project_models()
    }
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    session = ops.cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    blocked = []  # the admin lives under the same Content-Security-Policy
    page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
    found = {}
    shown = shown_pages(every_row)
    try:
        for path in admin_pages(ops_user):
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status == 200, path
            assert "/login/" not in page.url
            if violations := blocking_violations(page):
                found[path] = violations
            if path in shown:
                shot(page, f"admin-{viewport}-{shown[path]}")
    finally:
        context.close()
    assert not found, "\n".join(f"{path}: {v}" for path, vs in found.items() for v in vs)
    assert not blocked, blocked
