"""Test environment defaults, set before Django loads its settings.

Tests use real PostgreSQL (database test_<name>) and a Redis database of their own
(15 by default), so a developer's running site keeps its data. A second checkout can
run its own tests beside this one by setting DATABASE_URL / TEST_DATABASE_NAME and REDIS_URL.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/surge")
os.environ.setdefault("DB_POOL_MAX", "80")
os.environ.setdefault("DB_POOL_TIMEOUT", "20")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# Booking tests run with rooms off; waiting-room tests turn rooms on explicitly.
os.environ.setdefault("WAITING_ROOM_DEFAULT_MODE", "off")
