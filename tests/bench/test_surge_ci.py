"""The CI-sized ticket drop: a few hundred buyers through the whole stack (nginx in front of the
two gunicorn lanes, Celery worker and beat, the emulator), from many source addresses with every
limit on, ending in a clean audit and no 5xx. Every change proves the flow end to end."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from devstack.ports import free_port_block
from tests.conftest import EMULATOR_REDIS
from tests.processes import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("topology", ["single", "cluster"])
def test_ci_sized_drop_is_clean(tmp_path, topology):
    """On one node, and on the scale-out topology (docs/scale-out.md: the waiting room on a Redis
    Cluster, PostgreSQL behind PgBouncer, Celery on RabbitMQ with one beat behind its lock, two web
    nodes per lane, two workers): the same fairness (nobody admitted out of order), exactly-once
    (the audit) and no-5xx checks."""
    # This run's own database, Redis dbs (the test run's, unused by this test meanwhile) and ports:
    # another test run on the machine may be dropping at the same time.
    database = f"surge_ci_{os.environ.get('TEST_DATABASE_NAME', 'drop')}_{topology}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.surge",
            "--start",
            "--buyers",
            "300",
            "--seats",
            "100",
            "--seats-per-row",
            "20",
            "--capacity",
            "60",
            "--rate",
            "3000",
            "--arrival-seconds",
            "3",
            "--late-delay",
            "2",
            "--database",
            database,
            "--redis-url",
            settings.REDIS_URL,
            "--emulator-redis-url",
            EMULATOR_REDIS,
            "--port",
            str(free_port_block(4)),
            "--out",
            str(tmp_path),
            "--topology",
            topology,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    print(done.stdout[-6000:])
    print(done.stderr[-3000:])
    figures = json.loads((tmp_path / "surge.json").read_text())
    assert figures["audit_clean"], figures["audit"]
    assert all(count == 0 for count in figures["audit"].values())
    assert figures["errors_5xx"] == 0 and figures["timeouts"] == 0, figures["errors"]
    # Through the front (nginx, two lanes), with every limit on: the arrival is two requests.
    assert figures["arrival_timeouts"] == 0 and figures["arrival_5xx"] == 0
    assert figures["arrival_requests_per_buyer_max"] <= 2 and figures["buyers_without_a_place"] == 0
    assert figures["first_hold_after_s"] is not None
    assert figures["outcomes"].get("confirmed", 0) > 0
    # Nobody let in while someone who joined before them still waited (None: nobody had to wait).
    assert figures["fairness_out_of_order_share"] in (None, 0)
    assert figures["pg_connections_peak"] <= figures["pg_pool_total"]
    assert (tmp_path / "surge.png").stat().st_size > 10_000
    assert done.returncode == 0
