"""Headless Debian chromium driven by Playwright (never a downloaded browser)."""

from pathlib import Path

import pytest

SHOTS = Path(__file__).resolve().parent.parent.parent / "test-output" / "screenshots"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    blocked = []  # the Content-Security-Policy is on: whatever it blocks fails the test
    page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
    yield page
    context.close()
    assert not blocked, blocked


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
