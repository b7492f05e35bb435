"""gunicorn settings, from the environment. Each worker process has its own DB pool of DB_POOL_MAX.

Behind the front (nginx), the same Django project runs as two pools, picked by SURGE_LANE:
  lobby    arrivals and the line (event pages, waiting page, status polls): a small
           DB pool (pre-built pages need no database), and a lower CPU priority, so that when a
           burst saturates the machine the buyers inside still get the processor first;
  booking  admitted buyers, payments, the webhook and the admin.
Without SURGE_LANE it is the one plain pool of a development loop (gunicorn alone, no nginx).
"""

import os

from booking_site.logs import GunicornLogger

LANES = {
    # lane: (port, processes, threads, DB pool per process, nice)
    "lobby": (os.environ.get("LOBBY_PORT", "8001"), "2", "4", "2", 5),
    "booking": (os.environ.get("BOOKING_PORT", "8002"), "3", "4", "4", 0),
}
lane = os.environ.get("SURGE_LANE", "")
if lane:
    port, processes, lane_threads, pool, lane_nice = LANES[lane]
    prefix = lane.upper()
    bind = os.environ.get(f"{prefix}_BIND", f"127.0.0.1:{port}")
    workers = int(os.environ.get(f"{prefix}_CONCURRENCY", processes))
    threads = int(os.environ.get(f"{prefix}_THREADS", lane_threads))
    os.environ["DB_POOL_MAX"] = os.environ.get(f"{prefix}_DB_POOL_MAX", pool)
    # Only nginx talks to a lane: the client address is the one it puts in X-Real-IP.
    os.environ.setdefault("WAITING_ROOM_CLIENT_IP_HEADER", "HTTP_X_REAL_IP")
    proc_name = f"surge-{lane}"
else:
    lane_nice = 0
    bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
    workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
    threads = int(os.environ.get("GUNICORN_THREADS", "4"))

worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 75  # nginx keeps upstream connections open (keepalive in surge.conf)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# The project's one log format (booking_site/logs.py: UTC, ISO 8601) on gunicorn's own lines; the
# access line leaves out gunicorn's own %(t)s timestamp (local time, another format).
logger_class = GunicornLogger
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
backlog = 2048
worker_connections = 2000
# Several pools run on one machine (the lanes, tests, benchmarks): no shared control socket.
control_socket_disable = True


def post_fork(server, worker):
    nice = int(os.environ.get(f"{lane.upper()}_NICE", lane_nice)) if lane else 0
    if nice:
        os.nice(nice)


def child_exit(server, worker):
    """prometheus-client's multiprocess bookkeeping: a worker that ended gives back its live gauges
    (its counters stay counted). A no-op without PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
