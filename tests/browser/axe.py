"""axe-core (bundled by axe-playwright-python, pinned in requirements-dev.txt) in a page or a
frame: the violations a buyer or an operator could not get past, serious or critical."""

from axe_playwright_python.sync_playwright import Axe

BLOCKING = {"serious", "critical"}


def blocking_violations(page_or_frame) -> list[str]:
    """Works on a Playwright Page or Frame (both evaluate scripts), so a modal's iframe is
    checked in its own document."""
    results = Axe().run(page_or_frame)
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]
