"""Test settings: environment defaults applied before the real settings load.

Tests use real PostgreSQL (database test_<name>) and a Redis database of their own
(15 by default), so a developer's running site keeps its data. A second checkout can
run its own tests beside this one by setting DATABASE_URL / TEST_DATABASE_NAME and REDIS_URL.
"""

import os

# Not a developer's .env (make run writes one): the tests configure themselves, and the processes
# they start inherit this (settings.ENV_FILE).
os.environ["ENV_FILE"] = ""
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("HTTPS", "false")  # tests run over plain http://127.0.0.1 (see settings.HTTPS)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/surge")
os.environ.setdefault("DB_POOL_MAX", "80")
os.environ.setdefault("DB_POOL_TIMEOUT", "20")
# Playwright's sync API keeps an event loop in the main thread once a browser test ran; the
# tests' own ORM calls are still synchronous, so Django's async-safety guard does not apply.
# Booking tests run with rooms off; waiting-room tests turn rooms on explicitly.
os.environ.setdefault("WAITING_ROOM_DEFAULT_MODE", "off")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Payments talk to the project's emulator in tests (local test keys fill in).
os.environ.setdefault("RAZORPAY_EMULATOR_ENABLED", "true")
os.environ.setdefault("RAZORPAY_API_URL", "http://127.0.0.1:9")  # nothing listens: payments tests start the emulator
os.environ.setdefault("RAZORPAY_RETRY_DELAY", "0.05")

from booking_site.settings import *  # noqa: E402, F403

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
