"""`manage.py create_door_staff`: a staff login with the check-in permission only, which reaches the
door page and no admin screen."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from apps.core.models import AuditEntry
from tests.factories import make_event

pytestmark = pytest.mark.django_db


def test_the_command_makes_a_login_that_opens_the_door_and_no_admin_screen(monkeypatch):
    monkeypatch.setenv("DOOR_STAFF_PASSWORD", "gate-two-evening")
    out = io.StringIO()
    call_command("create_door_staff", "gate2", "--no-input", "--email", "gate2@example.com", stdout=out)
    assert "Door staff 'gate2' created" in out.getvalue()

    user = get_user_model().objects.get(username="gate2")
    assert user.is_staff and not user.is_superuser and user.email == "gate2@example.com"
    assert user.get_all_permissions() == {"booking.check_in"}
    assert AuditEntry.objects.filter(action="create door staff", target="user gate2").exists()

    client = Client()  # signs in on the admin's login page, as the door's redirect sends them
    signed_in = client.post(reverse("admin:login"), {"username": "gate2", "password": "gate-two-evening"})
    assert signed_in.status_code == 302
    assert client.get(reverse("booking:door", args=[make_event().slug])).status_code == 200
    assert client.get(reverse("admin:booking_booking_changelist")).status_code == 403
    assert client.get(reverse("admin:booking_event_changelist")).status_code == 403


def test_without_a_password_or_with_a_taken_name_it_refuses_and_changes_nothing(monkeypatch):
    monkeypatch.delenv("DOOR_STAFF_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="Set DOOR_STAFF_PASSWORD"):
        call_command("create_door_staff", "gate2", "--no-input")
    assert not get_user_model().objects.filter(username="gate2").exists()

    ops = get_user_model().objects.create_superuser("ops", "ops@example.com", "x")
    monkeypatch.setenv("DOOR_STAFF_PASSWORD", "gate-two-evening")
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_door_staff", "ops", "--no-input")
    ops.refresh_from_db()
    assert ops.is_superuser and ops.check_password("x")  # never changed


def test_the_password_is_asked_twice_when_not_in_the_environment(monkeypatch):
    monkeypatch.delenv("DOOR_STAFF_PASSWORD", raising=False)
    answers = iter(["typed-at-the-desk", "typed-at-the-desk"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("create_door_staff", "gate3", stdout=io.StringIO())
    assert get_user_model().objects.get(username="gate3").check_password("typed-at-the-desk")

    mismatched = iter(["one", "another"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(mismatched))
    with pytest.raises(CommandError, match="differ"):
        call_command("create_door_staff", "gate4", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="gate4").exists()
