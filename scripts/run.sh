#!/usr/bin/env bash
# `make run`: the whole product on this machine — nginx in front of two gunicorn pools, Celery worker and beat,
# and the Razorpay emulator — with the local PostgreSQL and Redis when they answer.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
PY=.venv/bin/python
export PORT="${PORT:-8000}"
export SITE_URL="${SITE_URL:-http://127.0.0.1:$PORT}"
export HTTPS="${HTTPS:-false}"  # plain http://127.0.0.1: no HTTPS redirect, HSTS or secure-only cookies

# Secrets come from the environment; for a local run we make one up once and keep it in var/.
[ -f var/secret_key ] || $PY -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key
export SECRET_KEY="${SECRET_KEY:-$(cat var/secret_key)}"

if [ -z "${DATABASE_URL:-}" ]; then
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='surge'" | grep -q 1 \
      || createdb -h 127.0.0.1 -U postgres surge
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/surge"
  else
    echo "PostgreSQL is not answering on 127.0.0.1:5432: using an SQLite file (var/db.sqlite3) instead."
    export DATABASE_URL="sqlite:///$(pwd)/var/db.sqlite3"
  fi
fi

if [ -z "${REDIS_URL:-}" ]; then
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
  elif command -v redis-server >/dev/null; then
    echo "Redis is not answering on 6379: starting a private redis-server on 6390 (var/redis.pid)."
    redis-server --daemonize yes --port 6390 --bind 127.0.0.1 --save "" --appendonly no \
      --pidfile "$(pwd)/var/redis.pid" --logfile "$(pwd)/var/redis.log"
    export REDIS_URL="redis://127.0.0.1:6390/0"
  else
    echo "Redis is needed (queue, cache, Celery broker) and none is running or installed." >&2
    echo "Install it (Debian/Ubuntu: 'sudo apt-get install redis-server'; macOS: 'brew install redis') and run 'make run' again." >&2
    exit 1
  fi
fi

# Development payments go to the project's Razorpay emulator, never to Razorpay.
export EMULATOR_PORT="${EMULATOR_PORT:-9000}"
export RAZORPAY_EMULATOR_ENABLED=true
export RAZORPAY_API_URL="${RAZORPAY_API_URL:-http://127.0.0.1:$EMULATOR_PORT}"
export RAZORPAY_CHECKOUT_JS="${RAZORPAY_CHECKOUT_JS:-$RAZORPAY_API_URL/v1/checkout.js}"
export RAZORPAY_EMULATOR_WEBHOOK_URL="${RAZORPAY_EMULATOR_WEBHOOK_URL:-$SITE_URL/payments/razorpay/webhook/}"
export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
export CELERY_BEAT_SCHEDULE_FILE=var/celerybeat-schedule

# nginx is the front door on $PORT; behind it two gunicorn pools of the same project:
# the lobby (arrivals, the line) and booking (buyers inside, payments, admin).
export LOBBY_PORT="${LOBBY_PORT:-$((PORT + 1))}" BOOKING_PORT="${BOOKING_PORT:-$((PORT + 2))}"
export SURGE_FRONT_LISTEN="127.0.0.1:$PORT"
$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
$PY manage.py seed_demo
cat <<MSG

  Surge is starting at $SITE_URL/   (demo event: $SITE_URL/events/demo-concert/)
  Admin: $SITE_URL/admin/   (create a login with: .venv/bin/python manage.py createsuperuser)
  Emails land in var/mail/.   Stop with Ctrl-C.

MSG
exec .venv/bin/honcho -f Procfile.dev start
