"""The browser tests' page fixture (tests/browser/conftest.py) for the door's page tests too."""

from tests.browser.conftest import open_page  # noqa: F401
