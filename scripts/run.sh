#!/usr/bin/env bash
# `make run`: the whole product on this machine — nginx in front of two gunicorn pools, Celery worker and beat,
# and the Razorpay emulator — with the local PostgreSQL and Redis when they answer.
#   scripts/run.sh               set up, then start everything (honcho, Procfile.dev) until Ctrl-C
#   scripts/run.sh --setup-only  set up only (`make setup`): the local settings, the database, Redis, migrate
# The set-up writes the settings it picked or made up (secret key, ports, database, Redis, the emulator's
# URLs) to .env (or $ENV_FILE) when that file is absent, so that every manage.py command in another terminal
# sees what the servers see: booking_site/settings.py reads the file. The environment wins over the file,
# and an existing file is never rewritten: edit it to change a setting, or delete it to pick again.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
PY=.venv/bin/python
export ENV_FILE="${ENV_FILE:-.env}"

# Exports for the file's settings that the environment does not set, read by django-environ as
# settings.py reads them (one parser for both).
env_file_exports() {
  $PY - "$ENV_FILE" <<'PY'
import os, shlex, sys
import environ
before = set(os.environ)
environ.Env.read_env(sys.argv[1], overwrite=False)
for name in sorted(set(os.environ) - before):
    print(f"export {name}={shlex.quote(os.environ[name])}")
PY
}

# What a first run picks when neither the environment nor .env says: the local PostgreSQL (database
# `surge`) when one answers, else an SQLite file; the local Redis, else a private one on 6390.
pick_database() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "postgres://postgres@127.0.0.1:5432/surge"
  else
    echo "PostgreSQL is not answering on 127.0.0.1:5432: using an SQLite file (var/db.sqlite3) instead." >&2
    echo "sqlite:///$(pwd)/var/db.sqlite3"
  fi
}
PRIVATE_REDIS_URL="redis://127.0.0.1:6390/0"
pick_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then echo "redis://127.0.0.1:6379/0"; else echo "$PRIVATE_REDIS_URL"; fi
}

# The made-up secret key: the one earlier runs kept in var/ when there is one (logins stay valid).
made_up_secret_key() {
  if [ -s var/secret_key ]; then cat var/secret_key; else $PY -c 'import secrets; print(secrets.token_urlsafe(50))'; fi
}

write_env_file() {
  ( umask 077; set -o noclobber; cat > "$ENV_FILE" ) <<ENV
# Local settings, written by \`make run\` (scripts/run.sh) on its first run and read by every process and
# every manage.py command (booking_site/settings.py). The environment wins over this file. Edit it to
# change a setting, or delete it and run \`make setup\` to pick again. Never commit it (git-ignored).
SECRET_KEY=$SECRET_KEY
HTTPS=$HTTPS
PORT=$PORT
EMULATOR_PORT=$EMULATOR_PORT
SITE_URL=$SITE_URL
DATABASE_URL=$DATABASE_URL
REDIS_URL=$REDIS_URL
EMAIL_BACKEND=$EMAIL_BACKEND
# Payments go to the project's Razorpay emulator, never to Razorpay. These keys are its development
# values, which settings.py refuses whenever the emulator is off (so this file cannot reach production).
RAZORPAY_EMULATOR_ENABLED=$RAZORPAY_EMULATOR_ENABLED
RAZORPAY_KEY_ID=$RAZORPAY_KEY_ID
RAZORPAY_KEY_SECRET=$RAZORPAY_KEY_SECRET
RAZORPAY_WEBHOOK_SECRET=$RAZORPAY_WEBHOOK_SECRET
RAZORPAY_API_URL=$RAZORPAY_API_URL
RAZORPAY_CHECKOUT_JS=$RAZORPAY_CHECKOUT_JS
RAZORPAY_EMULATOR_WEBHOOK_URL=$RAZORPAY_EMULATOR_WEBHOOK_URL
ENV
  echo "Wrote the local settings to $ENV_FILE (the next runs and every manage.py command read it)."
}

# The database named by DATABASE_URL, created when it is a PostgreSQL one that does not exist yet.
ensure_database() {
  $PY - <<'PY'
import os, sys
import environ, psycopg
from psycopg import sql
db = environ.Env.db_url_config(os.environ["DATABASE_URL"])
if db["ENGINE"] != "django.db.backends.postgresql":
    sys.exit(0)
where = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"], "password": db["PASSWORD"]}
try:
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **where) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            print(f"Created the database {db['NAME']}.")
except psycopg.OperationalError as error:
    sys.exit(f"PostgreSQL ({where['host']}:{where['port']}) is not answering: {error}".strip())
PY
}

ensure_redis() {
  redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && return 0
  if [ "$REDIS_URL" = "$PRIVATE_REDIS_URL" ] && command -v redis-server >/dev/null; then
    echo "Redis is not answering on 6379: starting a private redis-server on 6390 (var/redis.pid)."
    redis-server --daemonize yes --port 6390 --bind 127.0.0.1 --save "" --appendonly no \
      --pidfile "$(pwd)/var/redis.pid" --logfile "$(pwd)/var/redis.log"
    for _ in $(seq 20); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && return 0; sleep 0.25; done
  fi
  echo "Redis is needed (queue, cache, Celery broker) and none answers at $REDIS_URL." >&2
  echo "Install it (Debian/Ubuntu: 'sudo apt-get install redis-server'; macOS: 'brew install redis') and try again." >&2
  exit 1
}

setup() {
  if [ -f "$ENV_FILE" ]; then eval "$(env_file_exports)"; fi
  export PORT="${PORT:-8000}" EMULATOR_PORT="${EMULATOR_PORT:-9000}"
  export SITE_URL="${SITE_URL:-http://127.0.0.1:$PORT}"
  export HTTPS="${HTTPS:-false}"  # plain http://127.0.0.1: no HTTPS redirect, HSTS or secure-only cookies
  export SECRET_KEY="${SECRET_KEY:-$(made_up_secret_key)}"
  export DATABASE_URL="${DATABASE_URL:-$(pick_database)}"
  export REDIS_URL="${REDIS_URL:-$(pick_redis)}"
  export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"  # var/mail/
  export RAZORPAY_EMULATOR_ENABLED="${RAZORPAY_EMULATOR_ENABLED:-true}"
  export RAZORPAY_KEY_ID="${RAZORPAY_KEY_ID:-rzp_test_surgelocal}"
  export RAZORPAY_KEY_SECRET="${RAZORPAY_KEY_SECRET:-surge-local-key-secret}"
  export RAZORPAY_WEBHOOK_SECRET="${RAZORPAY_WEBHOOK_SECRET:-surge-local-webhook-secret}"
  export RAZORPAY_API_URL="${RAZORPAY_API_URL:-http://127.0.0.1:$EMULATOR_PORT}"
  export RAZORPAY_CHECKOUT_JS="${RAZORPAY_CHECKOUT_JS:-$RAZORPAY_API_URL/v1/checkout.js}"
  export RAZORPAY_EMULATOR_WEBHOOK_URL="${RAZORPAY_EMULATOR_WEBHOOK_URL:-$SITE_URL/payments/razorpay/webhook/}"
  [ -e "$ENV_FILE" ] || write_env_file
  ensure_database
  ensure_redis
  $PY manage.py migrate --noinput -v0
}

setup
[ "${1:-}" = "--setup-only" ] && exit 0

# nginx is the front door on $PORT; behind it two gunicorn pools of the same project:
# the lobby (arrivals, the line) and booking (buyers inside, payments, admin).
export LOBBY_PORT="${LOBBY_PORT:-$((PORT + 1))}" BOOKING_PORT="${BOOKING_PORT:-$((PORT + 2))}"
export SURGE_FRONT_LISTEN="127.0.0.1:$PORT"
export CELERY_BEAT_SCHEDULE_FILE=var/celerybeat-schedule
# Every gunicorn worker (both lanes) and Celery worker writes its /metrics counters here; the scrape sums
# them. prometheus-client wants the directory set before the processes start and wiped between runs.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$(pwd)/var/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
$PY manage.py collectstatic --noinput -v0
$PY manage.py seed_demo
cat <<MSG

  Surge is starting at $SITE_URL/   (demo event: $SITE_URL/events/demo-concert/)
  Admin: $SITE_URL/admin/   (create a login in another terminal with: make admin)
  Emails land in var/mail/.   Settings: $ENV_FILE.   Stop with Ctrl-C.

MSG
# Ctrl-C is how a run ends: honcho stops every process (and answers 130), and this script ends
# with 0, so make reports no error. Every process logs in UTC (booking_site/logs.py); TZ=UTC puts
# honcho's own prefix and nginx's lines on the same clock.
trap 'interrupted=1' INT
status=0
export PYTHONUNBUFFERED=1  # each line shows when it is written (a banner too), not when a buffer fills
TZ=UTC .venv/bin/honcho --env /dev/null -f Procfile.dev start || status=$?
[ -n "${interrupted:-}" ] && exit 0
exit "$status"
