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


def shot(page, name: str, *, full_page: bool = True) -> Path:
    """A screenshot in test-output/screenshots/; `full_page=False` keeps what the viewport shows
    (a bar stuck to the bottom of the screen stays there)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def open_page(browser):
    """Pages in fresh contexts of the session's Chromium, each with its own viewport and options
    (`cpu_slowdown`: Chromium's CPU throttling); whatever the Content-Security-Policy blocks fails
    the test (as in `page`)."""
    contexts, blocked = [], []

    def open_page(viewport, cpu_slowdown: int = 1, **options):
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        if cpu_slowdown > 1:
            context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
        page.set_default_timeout(15000)
        page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not blocked, blocked
