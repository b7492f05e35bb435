"""The environment a product process starts with."""

import os
import secrets


def product_env(*, database_url: str, redis_url: str, secret_key: str | None = None, **extra: str) -> dict[str, str]:
    """This machine's environment plus what a product process needs to use this database and
    Redis (the production settings module, unbuffered output); `extra` last, so it wins."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "booking_site.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret_key or os.environ.get("SECRET_KEY") or secrets.token_urlsafe(32),
        "PYTHONUNBUFFERED": "1",
        "ENV_FILE": "",  # configured here alone, never by a developer's .env (make run's)
    }
    env.update(extra)
    return env


def bench_env(**extra: str) -> dict[str, str]:
    """A benchmark's product environment: its own database and Redis db unless the shell names
    them, plain http on loopback, payments through the emulator with its local keys."""
    return product_env(
        database_url=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/surge_bench"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        **{
            "DEBUG": "false",
            "HTTPS": "false",  # load runs talk plain http://127.0.0.1
            "RAZORPAY_EMULATOR_ENABLED": "true",
            **extra,
        },
    )
