"""Production settings: HTTPS enforced whenever DEBUG is off, `check --deploy` clean, development
secrets refused.

The deploy checks start manage.py in a subprocess with a production environment built from
scratch (no variable of this test run leaks in), the way a production start would read it."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SITE = "tickets.example.com"
DEV_SECRETS = {
    "SECRET_KEY": "dev-insecure-secret-key-change-me",
    "RAZORPAY_KEY_ID": "rzp_test_surgelocal",
    "RAZORPAY_KEY_SECRET": "surge-local-key-secret",
    "RAZORPAY_WEBHOOK_SECRET": "surge-local-webhook-secret",
}


def production_env(**changes: str | None) -> dict[str, str]:
    """What production sets (and nothing else): a value of None removes a variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "booking_site.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": SITE,
        "SITE_URL": f"https://{SITE}",
        "CSRF_TRUSTED_ORIGINS": f"https://{SITE}",
        "DATABASE_URL": "postgres://surge@127.0.0.1:5432/surge",  # check does not connect
        "REDIS_URL": settings.REDIS_URL,
        "RAZORPAY_KEY_ID": f"rzp_live_{secrets.token_hex(7)}",
        "RAZORPAY_KEY_SECRET": secrets.token_urlsafe(24),
        "RAZORPAY_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example.com",
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_check_deploy_is_clean_with_production_environment():
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert done.returncode == 0, done.stdout + done.stderr


def test_https_is_enforced_whenever_debug_is_off():
    """Nothing to remember in production: no HTTPS variable means HTTPS."""
    out = python(
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_PROXY_SSL_HEADER, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)",
        production_env(),
    )
    assert out.split() == ["True", "True", "('HTTP_X_FORWARDED_PROTO',", "'https')", "True", "True"]


@pytest.mark.parametrize("name", sorted(DEV_SECRETS))
def test_a_production_start_refuses_the_development_secrets(name):
    done = manage("check", env=production_env(**{name: DEV_SECRETS[name]}))
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and name in done.stderr, done.stderr


def test_debug_does_not_switch_on_the_emulator_or_development_secrets():
    """DEBUG=true alone (an operator's mistake) must not make missing secrets fill in."""
    env = production_env(DEBUG="true", SECRET_KEY=None, RAZORPAY_KEY_SECRET=None)
    done = manage("check", env=env)
    assert done.returncode != 0 and "ImproperlyConfigured" in done.stderr, done.stdout + done.stderr
    out = python("from django.conf import settings as s; print(s.RAZORPAY_EMULATOR_ENABLED)", production_env(DEBUG="true"))
    assert out.strip() == "False"

