import pytest
from django.conf import settings
from django_redis import get_redis_connection

from tests.factories import make_event


@pytest.fixture(autouse=True)
def clean_redis():
    """Every test starts with an empty Redis database of its own (never the dev one)."""
    assert settings.REDIS_URL.rstrip("/").rsplit("/", 1)[-1] not in ("", "0"), "tests must not use Redis db 0"
    get_redis_connection("default").flushdb()
    yield


@pytest.fixture
def event(db):
    return make_event()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the whole run (Playwright allows one sync driver at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
