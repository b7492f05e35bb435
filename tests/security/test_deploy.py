"""Production settings: HTTPS enforced whenever DEBUG is off, `check --deploy` clean, development
secrets refused, and a Content-Security-Policy that lets Razorpay's Checkout in and nothing inline.

The deploy checks start manage.py in a subprocess with a production environment built from
scratch (no variable of this test run leaks in), the way a production start would read it."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import buyer, make_event
from tests.waitingroom.conftest import open_room

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
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
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
    out = python(
        "from django.conf import settings as s; print(s.RAZORPAY_EMULATOR_ENABLED)", production_env(DEBUG="true")
    )
    assert out.strip() == "False"


def test_production_csp_allows_razorpay_checkout_and_nothing_inline():
    policy = python(
        "from django.conf import settings as s; from django.utils.csp import build_policy; "
        "print(build_policy(s.SECURE_CSP, 'NONCE'))",
        production_env(),
    ).strip()
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert "https://checkout.razorpay.com" in directives["script-src"]
    assert {"https://api.razorpay.com", "https://checkout.razorpay.com"} <= set(directives["frame-src"])
    assert directives["object-src"] == ["'none'"] and directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "127.0.0.1" not in policy


@pytest.mark.django_db
def test_pages_carry_the_csp_and_no_inline_script_style_or_handler(client):
    """Each page a buyer sees, as rendered: scripts only from files (JSON data blocks are not run),
    no style attributes, no on* handlers. The policy on the response forbids them anyway."""
    event = make_event()
    pages = [client.get("/"), client.get(f"/events/{event.slug}/"), client.get(f"/events/{event.slug}/seats/")]
    details = buyer(1)
    form = {"name": details["buyer_name"], "email": details["buyer_email"], "phone": details["buyer_phone"]}
    held = client.post(f"/events/{event.slug}/hold/", {"seat": ["A-1"], **form})
    assert held.status_code == 303, held.content
    pages.append(client.get(held["Location"]))  # the checkout page (its gateway is down here: it still renders)
    pages.append(client.post(f"/events/{event.slug}/hold/", {"seat": ["A-1"], "name": "x"}))  # form with errors
    room = make_event()
    open_room(room, paused=True)
    pages.append(client.get(f"/queue/{room.slug}/"))
    for response in pages:
        html = response.content.decode()
        assert "<html" in html, response
        policy = response["Content-Security-Policy"]
        assert "'unsafe-inline'" not in policy
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"<[^>]+\sstyle=", html), re.search(r"<[^>]+\sstyle=[^>]*>", html)
        assert not re.search(r"<[^>]+\son[a-z]+=", html)
        assert "<style" not in html
