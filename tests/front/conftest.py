import pytest

from tests.processes import front_stack


@pytest.fixture(scope="module")
def lanes(tmp_path_factory, django_db_setup, django_db_blocker):
    """nginx + the two lanes, shared by a module's tests (each test makes its own events)."""
    with django_db_blocker.unblock(), front_stack(tmp_path=tmp_path_factory.mktemp("front")) as front:
        yield front
