"""The newcomer's first hour: `make run`'s set-up, then the README's commands typed in a second
terminal (a clean environment: none of the settings the set-up picked or made up), and logs that
are not flooded by the work beat does every second."""

import logging
import re
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from apps.booking.tasks import expire_intents_task
from apps.waitingroom.tasks import admit_task
from devstack import stack
from tests.processes import product_env, wait_for

ROOT = Path(settings.BASE_DIR)
README = (ROOT / "README.md").read_text()
# A second terminal on a new machine: no virtualenv on the PATH, none of the project's settings.
CLEAN = {
    "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
    "HOME": str(Path.home()),
    "LANG": "C.UTF-8",
}


def this_runs_database_url() -> str:
    """This test run's own database (pytest-django's), as a DATABASE_URL."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def checkout(tmp_path) -> Path:
    """This checkout's files in a folder of their own (no .env, var/ or caches), sharing its
    virtualenv, so the set-up writes a .env of its own and a developer's stays untouched."""
    copy = tmp_path / "checkout"
    ignored = shutil.ignore_patterns(
        ".git", ".venv", ".env", "var", "staticfiles", "test-output", "__pycache__", "*_cache", "out"
    )
    shutil.copytree(ROOT, copy, symlinks=True, ignore=ignored)
    (copy / ".venv").symlink_to((ROOT / ".venv").resolve())
    return copy


def shell(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`command` typed in a terminal at cwd whose environment is CLEAN plus env."""
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env={**CLEAN, **env}, capture_output=True, text=True, timeout=300
    )


def set_up(checkout: Path) -> subprocess.CompletedProcess:
    """make run's set-up step (not the servers), pointed at this test run's database and Redis."""
    result = shell("make setup", checkout, DATABASE_URL=this_runs_database_url(), REDIS_URL=settings.REDIS_URL)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def readme_command(pattern: str) -> str:
    """The one command of the README's that matches pattern (as the README shows it, in backticks)."""
    commands = [c for c in re.findall(r"`([^`\n]+)`", README) if re.search(pattern, c)]
    assert len(commands) == 1, commands
    return commands[0]


@pytest.mark.django_db(transaction=True)
def test_the_readme_admin_command_works_in_a_second_terminal_after_the_set_up(checkout):
    set_up(checkout)
    env_file = checkout / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = env_file.read_text()
    assert re.search(r"^SECRET_KEY=\S{40,}$", written, re.M)
    assert f"DATABASE_URL={this_runs_database_url()}\n" in written
    assert "RAZORPAY_EMULATOR_ENABLED=true\n" in written
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0

    command = readme_command(r"DJANGO_SUPERUSER_PASSWORD=.*make admin")
    result = shell(command, checkout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Superuser created successfully." in result.stdout

    username = re.search(r"DJANGO_SUPERUSER_USERNAME=(\S+)", command).group(1)
    password = re.search(r"DJANGO_SUPERUSER_PASSWORD=(\S+)", command).group(1).strip("'\"")
    user = get_user_model().objects.get(username=username)
    assert user.is_superuser and user.is_staff and user.check_password(password)

    # The command make run used to suggest, and any manage.py command, works there too.
    result = shell(".venv/bin/python manage.py check", checkout)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_the_set_up_never_rewrites_an_existing_env_file(checkout):
    env_file = checkout / ".env"
    mine = (
        "# my own settings\n"
        f"SECRET_KEY=mine-{'x' * 40}\nHTTPS=false\nRAZORPAY_EMULATOR_ENABLED=true\n"
        f"DATABASE_URL={this_runs_database_url()}\nREDIS_URL={settings.REDIS_URL}\n"
    )
    env_file.write_text(mine)
    env_file.chmod(0o640)

    result = set_up(checkout)

    assert env_file.read_text() == mine
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640
    assert "Wrote the local settings" not in result.stdout


@pytest.mark.django_db
def test_a_routine_admit_logs_nothing_at_info(caplog):
    caplog.set_level(logging.INFO)
    admit_task.apply()
    expire_intents_task.apply()  # the control: another beat task still says it ran

    def lines(task: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if task in r.getMessage()]

    assert [r.levelname for r in lines("expire_intents_task")] == ["INFO"]
    assert lines("admit_task") == []


@pytest.mark.django_db
def test_a_worker_with_beat_logs_the_admit_task_at_debug_only(tmp_path):
    """A real worker with beat, at DEBUG so the admit's lines are there to read: every one of them
    is DEBUG, while the other beat tasks' are INFO; all in the one format, in UTC."""
    log = tmp_path / "celery.log"
    admit_lines = re.compile(r"^(\S+) (\S+) \[\d+\] \[(\w+)\] .*apps\.waitingroom\.tasks\.admit_task", re.M)
    heartbeat_at_info = re.compile(
        r"^\S+ celery\.app\.trace \[\d+\] \[INFO\] Task apps\.core\.tasks\.beat_heartbeat\[", re.M
    )
    env = product_env(BEAT_HEARTBEAT_EVERY_SECONDS="1")  # the control: another beat task, also every second
    with stack.celery_worker(env, tmp_path, loglevel="DEBUG", beat_schedule=tmp_path / "beat-schedule"):
        wait_for(
            lambda: (
                len(re.findall(r"admit_task\[.*\] succeeded", log.read_text())) >= 2
                and heartbeat_at_info.search(log.read_text())
            ),
            timeout=60,
            what="the worker to run the admit task twice and the heartbeat once",
        )
    text = log.read_text()
    admits = admit_lines.findall(text)
    assert {logger for _, logger, _ in admits} >= {"celery.beat", "celery.worker.strategy", "celery.app.trace"}
    assert {level for _, _, level in admits} == {"DEBUG"}
    # UTC, although Django set the worker's zone to TIME_ZONE (Asia/Kolkata, 5.5 hours off).
    stamps = [datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) for stamp, _, _ in admits]
    assert all(abs(datetime.now(UTC) - stamp) < timedelta(minutes=5) for stamp in stamps)
