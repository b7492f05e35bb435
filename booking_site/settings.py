"""Settings, all read from the environment (django-environ).

Defaults suit production where security is concerned (HTTPS enforced, no development secret);
production sets DATABASE_URL, REDIS_URL, SECRET_KEY, the Razorpay keys, ALLOWED_HOSTS and the
mail settings. A local plain-HTTP run sets HTTPS=false and RAZORPAY_EMULATOR_ENABLED=true.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from booking_site import logs

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The local settings `make run` wrote on its first run (scripts/run.sh --setup-only), so a second
# terminal's manage.py sees what the servers see. The environment wins over the file. ENV_FILE
# names another file (relative to this checkout); empty reads none (the tests and devstack: their
# processes are configured by them alone, never by a developer's .env).
ENV_FILE = env("ENV_FILE", default=".env")
if ENV_FILE:
    environ.Env.read_env(BASE_DIR / ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# --- Secrets ----------------------------------------------------------------------
# Development secrets never follow from DEBUG. They fill in for missing ones only where the
# project's Razorpay emulator stands in for Razorpay (make run, tests, load runs), and a start
# with the emulator off (production) refuses them, so a copied .env cannot ship them.
RAZORPAY_EMULATOR_ENABLED = env.bool("RAZORPAY_EMULATOR_ENABLED", default=False)
DEVELOPMENT_SECRETS = {  # the first value of each is the local default
    "SECRET_KEY": ("dev-insecure-secret-key-change-me", "test-secret-key-not-for-production"),
    "RAZORPAY_KEY_ID": ("rzp_test_surgelocal",),
    "RAZORPAY_KEY_SECRET": ("surge-local-key-secret",),
    "RAZORPAY_WEBHOOK_SECRET": ("surge-local-webhook-secret",),
}


def _secret(name: str) -> str:
    known = DEVELOPMENT_SECRETS[name]
    value = env(name, default=known[0] if RAZORPAY_EMULATOR_ENABLED else environ.Env.NOTSET)
    if not RAZORPAY_EMULATOR_ENABLED and value in known:
        raise ImproperlyConfigured(
            f"{name} is a development value, refused with RAZORPAY_EMULATOR_ENABLED off: set the real secret."
        )
    return value


SECRET_KEY = _secret("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "apps.core",
    "apps.booking",
    "apps.payments",
    "axes",
    "razorpay_emulator",  # dev/test stand-in for Razorpay; its command refuses to run unless enabled
    "apps.waitingroom",
    "apps.ops",  # the drop dashboard (admin) and the figures /metrics shows
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before the shortcuts, so the pre-built pages they answer carry the policy too.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "apps.waitingroom.middleware.LobbyShortcut",
    "apps.booking.middleware.PublicPageShortcut",
    # booking_site.hotpaths.X: middleware the hottest buyer URLs (a hold, the seat availability
    # documents) pass over; everything else runs it as usual.
    "booking_site.hotpaths.WhiteNoise",
    "apps.core.middleware.ErrorMiddleware",  # application errors and outages become their answer
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.waitingroom.middleware.WaitingRoomGate",
    "booking_site.hotpaths.Messages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a lockout into the 429 page
]

ROOT_URLCONF = "booking_site.urls"
WSGI_APPLICATION = "booking_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# PostgreSQL through psycopg 3 and Django's built-in pool. Total connections =
# web processes x DB_POOL_MAX + Celery processes x DB_POOL_MAX: keep it below
# max_connections. A short pool timeout turns a surge into a fast 503.
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/surge")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Behind PgBouncer in transaction mode (docs/scale-out.md), each transaction may run on another
# server connection: no server-side cursors (a cursor lives across transactions) and no prepared
# statements (Debian's PgBouncer 1.18 cannot carry them); the code takes only transaction-level
# advisory locks, so nothing else depends on the session.
DB_BEHIND_PGBOUNCER = env.bool("DB_BEHIND_PGBOUNCER", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    options = DATABASES["default"].setdefault("OPTIONS", {})
    if env.bool("DB_POOL", default=True):
        options["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=1),
            "max_size": env.int("DB_POOL_MAX", default=4),
            "timeout": env.float("DB_POOL_TIMEOUT", default=3.0),
        }
    if DB_BEHIND_PGBOUNCER:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        options["prepare_threshold"] = None
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The newcomer fallback: IMMEDIATE transactions serialise writers, which is
    # what the per-buyer advisory lock does on PostgreSQL.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, waiting room ------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="surge"),
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 1.0,
            "SOCKET_TIMEOUT": 1.0,
        },
    }
}
# The waiting room on a Redis Cluster (docs/scale-out.md): its nodes as host:port, comma-separated.
# Unset, the room shares the cache's Redis above. Each of an event's scripts runs on one shard; a
# request that meets a failing-over shard is retried, then answered 503 with Retry-After.
REDIS_CLUSTER_NODES = env.list("REDIS_CLUSTER_NODES", default=[])
REDIS_CLUSTER_SOCKET_TIMEOUT = env.float("REDIS_CLUSTER_SOCKET_TIMEOUT", default=1.0)
REDIS_CLUSTER_RETRIES = env.int("REDIS_CLUSTER_RETRIES", default=3)
# Server-side sessions in Redis, so that logging out ends a session (a signed-cookie session
# replayed after logout was still valid). `cache`, not `cached_db`: the waiting-room gate reads
# the session on gated requests and must never reach the database for a buyer; with cached_db
# any made-up session cookie (a cache miss) would cost a query. Only staff have sessions (buyers
# carry none, and a request without a session cookie costs nothing); a Redis flush logs staff out.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)  # staff sign in each working day

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Tasks that change state are acks_late (each is idempotent), so a worker that dies mid-task leaves
# it to be delivered again; Redis redelivers an unacknowledged task after `visibility_timeout`. It
# must be longer than any task runs and than the longest countdown a retry waits (an email's 10
# minutes), or a task waiting for its countdown is delivered twice. One task reserved at a time.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=30 * 60)}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# One beat however many nodes start one (docs/scale-out.md): with "redbeat.RedBeatScheduler" (the
# scale-out topology sets it), RedBeat keeps the schedule in Redis and runs it only in the beat
# holding its lock; another beat waits at startup and takes over within the lock timeout of the
# holder's death. A beat that cannot extend its lock (Redis down) exits, for its supervisor to
# restart it behind the lock. One node keeps Celery's file scheduler, which rides out a Redis outage.
CELERY_BEAT_SCHEDULER = env("CELERY_BEAT_SCHEDULER", default="celery.beat:PersistentScheduler")
CELERY_REDBEAT_REDIS_URL = REDIS_URL
CELERY_REDBEAT_REDIS_OPTIONS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
CELERY_REDBEAT_KEY_PREFIX = "redbeat:"
CELERY_REDBEAT_LOCK_TIMEOUT = env.int("CELERY_REDBEAT_LOCK_TIMEOUT", default=15)
# A waiting beat tries the lock this often (and beat never sleeps longer): takeover within the
# lock timeout plus this.
CELERY_BEAT_MAX_LOOP_INTERVAL = env.int("CELERY_BEAT_MAX_LOOP_INTERVAL", default=5)
# The outbox (apps/core/outbox.py): announcements written with the change, relayed until taken.
OUTBOX_RELAY_EVERY_SECONDS = env.float("OUTBOX_RELAY_EVERY_SECONDS", default=5.0)
OUTBOX_CLAIM_SECONDS = env.float("OUTBOX_CLAIM_SECONDS", default=60.0)  # a delivery's lease on its row
OUTBOX_RETRY_BACKOFF = env.float("OUTBOX_RETRY_BACKOFF", default=2.0)  # seconds, doubling per attempt ...
OUTBOX_RETRY_BACKOFF_MAX = env.float("OUTBOX_RETRY_BACKOFF_MAX", default=60.0)  # ... up to a minute
OUTBOX_KEEP_DAYS = env.int("OUTBOX_KEEP_DAYS", default=7)  # delivered messages kept for ops to read
# A confirmed booking's email is sent within this many seconds, or re-sent by the sweep, or shown
# by `audit_bookings` as a violation. The sweep runs several times within it.
CONFIRMATION_EMAIL_DEADLINE_SECONDS = env.float("CONFIRMATION_EMAIL_DEADLINE_SECONDS", default=120.0)
# A sender's claim on a confirmation email lapses after this (longer than a send takes, shorter
# than half the deadline, so a worker killed mid-send is followed by the sweep in time).
CONFIRMATION_EMAIL_CLAIM_SECONDS = env.float("CONFIRMATION_EMAIL_CLAIM_SECONDS", default=45.0)
EXPIRE_INTENTS_EVERY_SECONDS = env.float("EXPIRE_INTENTS_EVERY_SECONDS", default=15.0)
# How often beat checks whether the hold's tables outgrew their statistics (services.refresh_hold_statistics).
HOLD_STATISTICS_EVERY_SECONDS = env.float("HOLD_STATISTICS_EVERY_SECONDS", default=10.0)
RECONCILE_EVERY_SECONDS = env.float("RECONCILE_EVERY_SECONDS", default=60.0)
# Beat stamps its liveness this often; /healthz/beat answers 503 when the stamp is older than
# BEAT_STALE_SECONDS (alert on it: docs/waiting-room.md, "Beat").
BEAT_HEARTBEAT_EVERY_SECONDS = env.float("BEAT_HEARTBEAT_EVERY_SECONDS", default=10.0)
BEAT_STALE_SECONDS = env.float("BEAT_STALE_SECONDS", default=60.0)

# /metrics (booking_site/metrics.py) answers only a request bearing this token; unset, it is a 404.
# PROMETHEUS_MULTIPROC_DIR (read by prometheus-client itself, set and wiped by scripts/run.sh before
# the processes start) makes every gunicorn and Celery process count into one scrape.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
CELERY_BEAT_SCHEDULE = {
    "expire-intents": {
        "task": "apps.booking.tasks.expire_intents_task",
        "schedule": timedelta(seconds=EXPIRE_INTENTS_EVERY_SECONDS),
        "options": {"expires": EXPIRE_INTENTS_EVERY_SECONDS},
    },
    "refresh-hold-statistics": {
        "task": "apps.booking.tasks.refresh_hold_statistics_task",
        "schedule": timedelta(seconds=HOLD_STATISTICS_EVERY_SECONDS),
        "options": {"expires": HOLD_STATISTICS_EVERY_SECONDS},
    },
    "reconcile-payments": {
        "task": "apps.payments.tasks.reconcile_payments",
        "schedule": timedelta(seconds=RECONCILE_EVERY_SECONDS),
        "options": {"expires": RECONCILE_EVERY_SECONDS},
    },
    "relay-outbox": {
        "task": "apps.core.tasks.relay_outbox",
        "schedule": timedelta(seconds=OUTBOX_RELAY_EVERY_SECONDS),
        "options": {"expires": OUTBOX_RELAY_EVERY_SECONDS},
    },
    "resend-missing-confirmations": {
        "task": "apps.payments.tasks.resend_missing_confirmations",
        "schedule": timedelta(seconds=CONFIRMATION_EMAIL_DEADLINE_SECONDS / 4),
        "options": {"expires": CONFIRMATION_EMAIL_DEADLINE_SECONDS / 4},
    },
    "beat-heartbeat": {
        "task": "apps.core.tasks.beat_heartbeat",
        "schedule": timedelta(seconds=BEAT_HEARTBEAT_EVERY_SECONDS),
        "options": {"expires": BEAT_HEARTBEAT_EVERY_SECONDS},
    },
    "waiting-room-admit": {
        "task": "apps.waitingroom.tasks.admit_task",
        "schedule": timedelta(seconds=1),
        "options": {"expires": 1.0},
    },
}
# Separate queues, so a slow mail server or a stuck reconciliation never delays a confirmation.
# The Procfile's worker consumes all of them; each can be scaled on its own.
CELERY_TASK_ROUTES = {
    "apps.payments.tasks.process_webhook_event": {"queue": "confirmations"},
    "apps.payments.tasks.send_booking_confirmation": {"queue": "emails"},
    "apps.payments.tasks.send_refund_notice": {"queue": "emails"},
    "apps.payments.tasks.send_ticket_email": {"queue": "emails"},
    "apps.payments.tasks.resend_missing_confirmations": {"queue": "emails"},
    "apps.payments.tasks.reconcile_payments": {"queue": "reconciliation"},
    "apps.payments.tasks.reconcile_payment": {"queue": "reconciliation"},
    "apps.payments.tasks.refund_cancellation": {"queue": "reconciliation"},
    "apps.payments.tasks.call_off_refunds": {"queue": "reconciliation"},
    "apps.payments.tasks.send_cancellation_notice": {"queue": "emails"},
}
CELERY_QUEUES_ALL = "default,confirmations,emails,reconciliation"

# --- Booking rules ----------------------------------------------------------
HOLD_MINUTES = env.int("HOLD_MINUTES", default=8)
BOOKING_CHECKOUT_URL_NAME = "payments:checkout"  # where a hold sends the buyer
# Shown on the event page (the core does not know the waiting room): the line's panel, so an
# arrival's place comes from the event page's first status call.
BOOKING_EVENT_LOBBY_TEMPLATE = "waitingroom/lobby_panel.html"
MAX_SEATS_PER_BUYER = env.int("MAX_SEATS_PER_BUYER", default=6)
# Against hoarding (OWASP OAT-021): seats held at once from one address (IPv4, IPv6 /64) are capped
# at this many times the event's per-buyer limit, unless the event sets its own cap (admin). Carrier
# NAT puts many real buyers behind one address, hence a multiple. Each browser is capped at the
# per-buyer limit. There is no switch that turns the caps off.
HELD_SEATS_PER_IP_FACTOR = env.int("HELD_SEATS_PER_IP_FACTOR", default=4)
INVENTORY_CACHE_SECONDS = env.int("INVENTORY_CACHE_SECONDS", default=30)
# How often one availability document may be rebuilt while seats keep changing (after a burst of
# 5): between rebuilds buyers get the newest one built. The hold is the check, not the map.
INVENTORY_REBUILDS_PER_SECOND = env.float("INVENTORY_REBUILDS_PER_SECOND", default=4)
# "Find my tickets" sends a ticket email again: token buckets (tokens per minute, burst) per client
# address and per email asked for, so the page can bomb no inbox and guess no reference at scale.
FIND_TICKETS_RATE_LIMITS = {
    "per_ip": (
        env.float("FIND_TICKETS_PER_IP_PER_MINUTE", default=6),
        env.float("FIND_TICKETS_PER_IP_BURST", default=10),
    ),
    "per_email": (
        env.float("FIND_TICKETS_PER_EMAIL_PER_MINUTE", default=0.1),  # 6 an hour
        env.float("FIND_TICKETS_PER_EMAIL_BURST", default=3),
    ),
}

# --- Waiting room -------------------------------------------------------------
# Defaults of a new event's room (each event's room is then edited in the admin, live).
WAITING_ROOM_DEFAULT_MODE = env("WAITING_ROOM_DEFAULT_MODE", default="always")  # off, always, at_sale_open
WAITING_ROOM_DEFAULT_CAPACITY = env.int("WAITING_ROOM_DEFAULT_CAPACITY", default=200)
WAITING_ROOM_DEFAULT_RATE = env.int("WAITING_ROOM_DEFAULT_RATE", default=120)  # admissions per minute
WAITING_ROOM_DEFAULT_SESSION_MINUTES = env.int("WAITING_ROOM_DEFAULT_SESSION_MINUTES", default=10)
WAITING_ROOM_DEFAULT_GRACE_SECONDS = env.int("WAITING_ROOM_DEFAULT_GRACE_SECONDS", default=120)
WAITING_ROOM_TOKEN_SECONDS = env.int("WAITING_ROOM_TOKEN_SECONDS", default=1800)
# A hold announced without its expiry pins the holder's lease this long (hold + one extension);
# the hold's end frees it earlier.
WAITING_ROOM_HOLD_PIN_SECONDS = env.int("WAITING_ROOM_HOLD_PIN_SECONDS", default=(HOLD_MINUTES + 10) * 60)
# A holding buyer's lease ends this long after the hold does (the hold's own length, per event).
WAITING_ROOM_HOLD_GRACE_SECONDS = env.int("WAITING_ROOM_HOLD_GRACE_SECONDS", default=60)
WAITING_ROOM_RETRY_AFTER = env.int("WAITING_ROOM_RETRY_AFTER", default=5)
# Where the client address is. Behind the front (nginx sets X-Real-IP to the socket's peer):
# HTTP_X_REAL_IP. The header is believed only from TRUSTED_PROXIES (gunicorn listens on loopback
# behind nginx; "" is a unix socket); plain gunicorn without nginx keeps REMOTE_ADDR.
WAITING_ROOM_CLIENT_IP_HEADER = env("WAITING_ROOM_CLIENT_IP_HEADER", default="REMOTE_ADDR")
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1", ""])
# Token buckets: (tokens per minute, burst), per event. Joining the line per IP: a household or an
# office joins at once (burst 10), a carrier NAT's crowd at 30 a minute more (the page retries after
# Retry-After); one machine cannot stand in line as hundreds of made-up visitors.
WAITING_ROOM_RATE_LIMITS = {
    "join_per_ip": (env.int("WR_JOIN_PER_IP_PER_MINUTE", default=30), env.int("WR_JOIN_PER_IP_BURST", default=10)),
    "join_per_visitor": (
        env.int("WR_JOIN_PER_VISITOR_PER_MINUTE", default=6),
        env.int("WR_JOIN_PER_VISITOR_BURST", default=3),
    ),
    "hold_per_ip": (env.int("WR_HOLD_PER_IP_PER_MINUTE", default=120), env.int("WR_HOLD_PER_IP_BURST", default=40)),
    "hold_per_visitor": (
        env.int("WR_HOLD_PER_VISITOR_PER_MINUTE", default=10),
        env.int("WR_HOLD_PER_VISITOR_BURST", default=5),
    ),
}

# --- i18n, static -----------------------------------------------------------
LANGUAGE_CODE = "en-in"
TIME_ZONE = env("TIME_ZONE", default="Asia/Kolkata")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Django 6.1 mailers. EMAIL_BACKEND picks the class (console in development, SMTP in
# production with EMAIL_HOST / EMAIL_PORT / EMAIL_HOST_USER / EMAIL_HOST_PASSWORD / EMAIL_USE_TLS).
_mail_backend = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
_mail_options = {}
if _mail_backend.endswith("smtp.EmailBackend"):
    _mail_options = {
        "host": env("EMAIL_HOST", default="localhost"),
        "port": env.int("EMAIL_PORT", default=587),
        "username": env("EMAIL_HOST_USER", default=""),
        "password": env("EMAIL_HOST_PASSWORD", default=""),
        "use_tls": env.bool("EMAIL_USE_TLS", default=True),
        "timeout": 10,
    }
elif _mail_backend.endswith("filebased.EmailBackend"):
    _mail_options = {"file_path": env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))}
MAILERS = {"default": {"BACKEND": _mail_backend, "OPTIONS": _mail_options}}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="tickets@surge.local")

# One format and one zone (UTC) for every process (booking_site/logs.py); Celery applies it too
# (booking_site/celery.py). The admit task runs every second: its routine lines are DEBUG.
LOGGING = logs.logging_config(
    level=env("LOG_LEVEL", default="INFO"),
    routine_tasks=[
        str(CELERY_BEAT_SCHEDULE[name]["task"]) for name in ("waiting-room-admit", "refresh-hold-statistics")
    ],
)

# --- HTTPS ------------------------------------------------------------------------
# Enforced whenever DEBUG is off. Production sits behind nginx, which terminates TLS and sets
# X-Forwarded-Proto (overwriting any the client sent). Local runs over plain http://127.0.0.1
# (make run, tests, benchmarks) turn it off explicitly with HTTPS=false.
HTTPS = env.bool("HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes may call gunicorn directly
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Razorpay Checkout opens bank and wallet pages in pop-ups that report back to their opener.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin-allow-popups"

# --- Admin login throttle (django-axes) ------------------------------------------------
# A (username, client IP) pair is locked out after AXES_FAILURE_LIMIT wrong passwords for
# AXES_COOLOFF_MINUTES: per pair, so guessing from elsewhere cannot lock the real staff out.
# The client IP is read the project's one way (WAITING_ROOM_CLIENT_IP_HEADER: behind nginx,
# its X-Real-IP), so a client-sent X-Forwarded-For cannot rotate it. Attempts are kept in the
# database (shown in the admin; `manage.py axes_reset` unlocks) and each lockout is logged.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "booking_site.login_throttle.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
AXES_SENSITIVE_PARAMETERS = ["username"]  # the log names the address (to block it), not the account

# --- Razorpay -------------------------------------------------------------------
# Production talks to Razorpay itself; development and tests point RAZORPAY_API_URL
# and RAZORPAY_CHECKOUT_JS at the project's emulator (never enabled in production).
# Secrets come from the environment (see "Secrets" at the top).
# RAZORPAY_EMULATOR_ENABLED is read with the secrets, at the top.
RAZORPAY_KEY_ID = _secret("RAZORPAY_KEY_ID")
RAZORPAY_KEY_SECRET = _secret("RAZORPAY_KEY_SECRET")
RAZORPAY_WEBHOOK_SECRET = _secret("RAZORPAY_WEBHOOK_SECRET")
RAZORPAY_API_URL = env("RAZORPAY_API_URL", default="https://api.razorpay.com")
RAZORPAY_CHECKOUT_JS = env("RAZORPAY_CHECKOUT_JS", default="https://checkout.razorpay.com/v1/checkout.js")
RAZORPAY_EMULATOR_WEBHOOK_URL = env("RAZORPAY_EMULATOR_WEBHOOK_URL", default=f"{SITE_URL}/payments/razorpay/webhook/")
# Calls made inside a web request: a short total deadline and at most one retry, so a hung
# Razorpay never ties up a web thread for long (what misses it goes to the worker).
RAZORPAY_REQUEST_DEADLINE = env.float("RAZORPAY_REQUEST_DEADLINE", default=5.0)  # seconds, retries included
RAZORPAY_REQUEST_TIMEOUT = (2.0, 3.0)  # connect, read: per attempt, within the deadline
RAZORPAY_REQUEST_ATTEMPTS = 2
# Calls made by Celery tasks: more patience, and Celery's retries after that.
RAZORPAY_WORKER_TIMEOUT = (3.05, 10.0)
RAZORPAY_MAX_ATTEMPTS = env.int("RAZORPAY_MAX_ATTEMPTS", default=3)  # worker attempts on connection errors/timeouts
RAZORPAY_RETRY_DELAY = env.float("RAZORPAY_RETRY_DELAY", default=0.5)
# The circuit breaker (apps/payments/circuit.py), shared by all processes through Redis.
RAZORPAY_BREAKER_FAILURES = env.int("RAZORPAY_BREAKER_FAILURES", default=5)  # failed calls that open it ...
RAZORPAY_BREAKER_WINDOW = env.int("RAZORPAY_BREAKER_WINDOW", default=60)  # ... within this many seconds
RAZORPAY_BREAKER_OPEN_SECONDS = env.int("RAZORPAY_BREAKER_OPEN_SECONDS", default=30)  # then calls fail at once
PAYMENT_HOLD_EXTENSION_MINUTES = env.int("PAYMENT_HOLD_EXTENSION_MINUTES", default=5)
# Refunds of cancellations: a call not accepted is asked again after an exponential backoff with
# jitter (seconds, doubling up to the cap). The call-off job asks at most REFUND_CALLS_PER_SECOND
# (Razorpay rate-limits its API per account), in passes of CALL_OFF_PASS_SECONDS, then requeues itself.
REFUND_RETRY_BACKOFF = env.float("REFUND_RETRY_BACKOFF", default=2.0)
REFUND_RETRY_BACKOFF_MAX = env.float("REFUND_RETRY_BACKOFF_MAX", default=300.0)
REFUND_MAX_ATTEMPTS = env.int("REFUND_MAX_ATTEMPTS", default=20)  # then it stays failed for ops (about 1.5 h)
REFUND_CALLS_PER_SECOND = env.float("REFUND_CALLS_PER_SECOND", default=10.0)
CALL_OFF_PASS_SECONDS = env.float("CALL_OFF_PASS_SECONDS", default=60.0)
RECONCILE_AFTER_SECONDS = env.int("RECONCILE_AFTER_SECONDS", default=180)
RECONCILE_GIVE_UP_HOURS = env.int("RECONCILE_GIVE_UP_HOURS", default=72)


# --- Content-Security-Policy (Django's own middleware) ----------------------------------
# Scripts and styles come from our static files only: nothing inline (a template that ever needs
# an inline script marks it with {{ csp_nonce }}). Razorpay Checkout is allowed by its origins
# (the hosts Razorpay lists for its Checkout); in development its stand-in, the emulator, on its
# host at any port (tests start one on a free port).
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


if RAZORPAY_EMULATOR_ENABLED:
    _emulator = urlsplit(RAZORPAY_API_URL)
    _gateway = sorted({f"{_emulator.scheme}://{_emulator.hostname}:*", _origin(RAZORPAY_CHECKOUT_JS)})
    _razorpay = {"script-src": _gateway, "frame-src": _gateway, "connect-src": _gateway, "img-src": []}
else:
    _razorpay = {
        "script-src": sorted({_origin(RAZORPAY_CHECKOUT_JS), "https://cdn.razorpay.com"}),
        "frame-src": ["https://api.razorpay.com", "https://checkout.razorpay.com"],
        "connect-src": ["https://lumberjack.razorpay.com", "https://lumberjack-metrics.razorpay.com"],
        "img-src": ["https://cdn.razorpay.com"],
    }
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE, *_razorpay["script-src"]],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, *_razorpay["img-src"]],
    "connect-src": [CSP.SELF, *_razorpay["connect-src"]],
    "frame-src": _razorpay["frame-src"],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
