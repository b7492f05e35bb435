"""Boundaries between the apps, checked on the source: no app imports another app's views (what
two apps share lives in a module meant for it, or in apps.core), and apps.core imports no app."""

import ast
from pathlib import Path

APPS = Path(__file__).resolve().parent.parent / "apps"


def imports_of(path: Path) -> list[str]:
    """Every module a file imports, `from x import y` counted as both x and x.y (y may be a module)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apps" else None


def violations(apps: Path = APPS) -> list[str]:
    found = []
    for path in sorted(apps.rglob("*.py")):
        own = path.relative_to(apps).parts[0]
        for module in imports_of(path):
            other = app_of(module)
            if other in (None, own):
                continue
            if module.split(".")[2:3] == ["views"]:
                found.append(f"{path.relative_to(apps.parent)} imports {module}")
            if own == "core":
                found.append(f"{path.relative_to(apps.parent)} (core) imports {module}")
    return found


def test_no_app_imports_another_app_s_views():
    assert violations() == []


def test_the_check_catches_what_it_forbids(tmp_path):
    """Control: a tree with each forbidden import is caught, the allowed ones are not."""
    apps = tmp_path / "apps"
    for app, source in {
        "payments": "from apps.booking.views import owned_intent\nfrom apps.booking.access import owned_intent\n",
        "waitingroom": "from apps.booking import views\nfrom apps.waitingroom import views as own\n",
        "shop": "import apps.booking.views\n",
        "core": "from apps.booking.errors import BookingError\n",
    }.items():
        (apps / app).mkdir(parents=True)
        (apps / app / "views.py").write_text(source)
    assert violations(apps) == [
        "apps/core/views.py (core) imports apps.booking.errors",
        "apps/core/views.py (core) imports apps.booking.errors.BookingError",
        "apps/payments/views.py imports apps.booking.views",
        "apps/payments/views.py imports apps.booking.views.owned_intent",
        "apps/shop/views.py imports apps.booking.views",
        "apps/waitingroom/views.py imports apps.booking.views",
    ]
