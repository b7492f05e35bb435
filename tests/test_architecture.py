"""The layer rules are kept by tools, run by `make lint` (and so by `make test`): import-linter's
contracts (.importlinter) and mypy with django-stubs (pyproject.toml). These tests run the same
tools on the tree as it is (clean) and on a copy with one deliberate breach each, to show the
tools catch what they forbid."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "lint-imports", "--no-cache", str(tree / ".importlinter")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": str(BIN)},
        capture_output=True,
        text=True,
        check=False,
    )


def mypy(tree: Path, cache: Path) -> subprocess.CompletedProcess:
    """mypy as `make lint` runs it (its settings in pyproject.toml), with a cache of the test's own."""
    return subprocess.run(
        [BIN / "mypy", "--cache-dir", str(cache)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": str(BIN)},
        capture_output=True,
        text=True,
        check=False,
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in ("apps", "booking_site", "bench", "devstack"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "out"))
    shutil.copy(ROOT / ".importlinter", tree)
    return tree


def test_the_tree_keeps_every_import_contract():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("apps/booking/leak.py", "from apps.payments import services\n", "The booking core announces"),
        ("apps/payments/leak.py", "from apps.booking.views import hold\n", "No app imports another app's views"),
        ("apps/waitingroom/leak.py", "from booking_site import celery\n", "No app imports the project package"),
        ("bench/leak.py", "from apps.booking import services\n", "bench imports no app"),
        ("apps/core/leak.py", "from apps.waitingroom import queue\n", "apps.core"),
    ],
)
def test_a_layer_breach_fails_the_linter(tmp_path, module, source, broken):
    tree = copy_of_the_tree(tmp_path)
    (tree / module).write_text(source)
    done = lint_imports(tree)
    assert done.returncode != 0
    assert broken in done.stdout and "BROKEN" in done.stdout


def test_an_import_cycle_fails_the_linter(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    (tree / "apps/waitingroom/first.py").write_text("from apps.waitingroom import second\n")
    (tree / "apps/waitingroom/second.py").write_text("def later():\n    from apps.waitingroom import first\n")
    done = lint_imports(tree)
    assert done.returncode != 0 and "No import cycles" in done.stdout


def test_the_tree_type_checks(tmp_path):
    done = mypy(ROOT, tmp_path / "cache")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_type_error_fails_the_type_checker(tmp_path):
    """The copy holds what the Django plugin loads: its settings module (tests.settings) and the
    installed apps."""
    tree = tmp_path / "tree"
    for name in ("apps", "booking_site", "razorpay_emulator"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "tests").mkdir()
    for name in ("pyproject.toml", "tests/__init__.py", "tests/settings.py"):
        shutil.copy(ROOT / name, tree / name)
    (tree / "apps/booking/typo.py").write_text('x: int = "no"\n')
    done = mypy(tree, tmp_path / "cache")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "apps/booking/typo.py:1: error: Incompatible types in assignment" in done.stdout
    assert "Found 1 error in 1 file" in done.stdout  # the copy is otherwise clean: the plugin ran
