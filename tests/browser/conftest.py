"""Headless Debian chromium driven by Playwright (never a downloaded browser)."""

from pathlib import Path

import pytest

SHOTS = Path(__file__).resolve().parent.parent.parent / "test-output" / "screenshots"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
