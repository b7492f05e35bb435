"""A RabbitMQ virtual host of a stack's own on the machine's broker (Debian's rabbitmq-server on
5672): Celery's broker in the scale-out topology (docs/scale-out.md). A vhost per stack keeps the
queues of concurrent runs apart, as a Redis database number does for the Redis transport."""

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

RABBITMQCTL = "/usr/sbin/rabbitmqctl"
HOST, PORT, USER, PASSWORD = "127.0.0.1", 5672, "guest", "guest"


def _ctl(*args: str, check: bool = True) -> None:
    subprocess.run([RABBITMQCTL, *args], check=check, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=60)


def broker_url(vhost: str) -> str:
    return f"amqp://{USER}:{PASSWORD}@{HOST}:{PORT}/{vhost}"


@contextmanager
def vhost(prefix: str = "surge") -> Iterator[str]:
    """A new vhost (the guest user may use it), deleted on exit with its queues; yields the
    broker URL for CELERY_BROKER_URL."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    _ctl("add_vhost", name)
    try:
        _ctl("set_permissions", "-p", name, USER, ".*", ".*", ".*")
        yield broker_url(name)
    finally:
        _ctl("delete_vhost", name, check=False)  # gone already is fine: the rest must still stop
