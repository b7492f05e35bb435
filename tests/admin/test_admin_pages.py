"""The admin as an operator meets it, in headless Chromium with axe-core: the change list and the
change form of every project model, on a desktop and on a phone, have no serious or critical
accessibility violation."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib import admin
from django.urls import reverse

from tests.browser.conftest import shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
BLOCKING = {"serious", "critical"}


def project_models() -> list:
    return sorted(
        (model for model in admin.site._registry if model.__module__.startswith("apps.")),
        key=lambda model: model._meta.label,
    )


def admin_pages() -> list[str]:
    """The change list and the change form (of its first row) of every project model."""
    pages = []
    for model in project_models():
        row = model._default_manager.order_by("pk").first()
        assert row is not None, f"no {model._meta.label} row to open: every model's change form is checked"
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
    return pages


def blocking_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_admin_page_has_no_serious_accessibility_violation(browser, live_server, ops, every_row, viewport):
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
    try:
        for path in admin_pages():
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.status == 200, path
            assert "/login/" not in page.url
            if violations := blocking_violations(page):
                found[path] = violations
        shot(page, f"admin-{viewport}-last-change-form")
    finally:
        context.close()
    assert not found, "\n".join(f"{path}: {v}" for path, vs in found.items() for v in vs)
    assert not blocked, blocked
