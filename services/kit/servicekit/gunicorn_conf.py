"""gunicorn settings for every service: `gunicorn -c python:servicekit.gunicorn_conf <app>`.

Environment: HOST, PORT, WEB_CONCURRENCY, LOG_LEVEL, LOG_FORMAT, SERVICE_NAME,
FORWARDED_ALLOW_IPS (the gateway only), PROMETHEUS_MULTIPROC_DIR.
"""

import gc
import os
import shutil
from pathlib import Path

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from servicekit.logs import logging_dict_config

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "servicekit.worker.UvicornWorker"
# Longer than the gateway's upstream keepalive_timeout, so nginx never reuses
# a connection the worker is closing.
keepalive = 75
timeout = 30
graceful_timeout = 20
# No recycling of workers unless asked (GUNICORN_MAX_REQUESTS, e.g. 100000,
# ±10 %): a worker that stops closes its idle keep-alive connections, and the
# gateway may have just sent a request on one of them - it retries a GET on
# another connection, but never a POST or PATCH, which fails with a 502 (one
# PATCH in `make bench` did, each time a worker was recycled under load). The
# workers hold no growing state (every cache is bounded), so
# there is no leak to recycle them for; a deployment that finds one can set it.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None
# No control socket (gunicorn >= 25): the containers' root is read-only (it
# logged "Control server error: Read-only file system" at every start), a
# socket under $HOME would be shared by every gunicorn on a host, and the
# orchestrator, not a socket, changes the worker count.
control_socket_disable = True
# The master's lines carry the service's name too: SERVICE_NAME, which each
# image sets (the Dockerfile) and the settings read as `service_name`.
logconfig_dict = logging_dict_config(
    os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"), os.environ.get("SERVICE_NAME")
)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips


def on_starting(server: Arbiter) -> None:
    """Start every run with an empty multiprocess metrics directory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)


def child_exit(server: Arbiter, worker: Worker) -> None:
    """A worker exited: its metrics files folded into the archives (servicekit.metrics)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from servicekit.metrics import retire_worker

        retire_worker(Path(directory), worker.pid)


# The collector's thresholds in a worker: young objects collected every 10 000
# allocations instead of 700 (a request allocates thousands, nearly all freed
# by reference counting), and each older generation after 20 collections of
# the younger one instead of 10. See post_worker_init.
GC_THRESHOLD = (10_000, 20, 20)


def post_worker_init(worker: Worker | None) -> None:
    """Once the worker has loaded the app: freeze every object alive (the
    frameworks, the app, its routes and statements) out of the garbage
    collector's reach, and collect less often. Each full collection walked
    all of them again: 8.6 % of a worker's samples under load, and the
    longest pauses in its tail latency (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
