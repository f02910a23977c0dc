"""Prometheus metrics, correct under gunicorn.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn), every worker writes its samples
to that directory and `/metrics` aggregates them; without it (tests, a single
process) the default registry is used.

A worker that exits leaves its files behind, and every scrape reads every
file: with workers recycled or replaced, the folder and the scrape time grow
without bound (client_python issues 275 and 367). So when gunicorn's master
sees a worker exit, `retire_worker` adds the worker's counters, histograms
and summaries into one archive file per kind and removes its files: totals
stay exact and never go down, and the folder holds the live workers' files
plus three. Gauges are "live" modes only: they leave with their worker.
"""

import fcntl
import importlib.metadata
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.mmap_dict import MmapedDict

REQUESTS = Counter("http_requests_total", "HTTP requests handled, by route template.", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being handled now.", multiprocess_mode="livesum")
BUILD_INFO = Gauge(
    "build_info",
    "1, labelled with the running code's version and git revision (GIT_REVISION, set by the image build).",
    ["version", "revision"],
    multiprocess_mode="livemax",
)


def record_build() -> None:
    """The build_info sample of this process (at app start)."""
    try:
        version = importlib.metadata.version("svc-platform")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    BUILD_INFO.labels(version, os.environ.get("GIT_REVISION", "unknown")).set(1)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


# prometheus-client's file of one process's samples (untyped there).
_SAMPLES_FILE: Any = MmapedDict
# What a dead worker's samples add to (gauges leave with it).
ACCUMULATING_KINDS = ("counter", "histogram", "summary")
LOCK_FILE = ".lock"  # not *.db: the collector never reads it


@contextmanager
def _folder_locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """The folder's lock: a scrape holds it shared, a retirement exclusive,
    so no scrape reads a worker's samples twice (its file and the archive)
    or not at all."""
    with open(directory / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def retire_worker(directory: Path, pid: int) -> None:
    """Fold worker `pid`'s samples into the archives and remove its files
    (gunicorn's child_exit, in the master)."""
    with _folder_locked(directory, exclusive=True):
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]  # untyped
        for kind in ACCUMULATING_KINDS:
            dead = directory / f"{kind}_{pid}.db"
            if not dead.exists():
                continue
            archive = _SAMPLES_FILE(str(directory / f"{kind}_archive.db"))
            try:
                for key, value, timestamp, _ in _SAMPLES_FILE.read_all_values_from_file(str(dead)):
                    total, _ = archive.read_value(key)
                    archive.write_value(key, total + value, timestamp)
            finally:
                archive.close()
            dead.unlink()


def exposition(directory: Path) -> bytes:
    """Every process's samples in `directory`, in the text format: a scrape."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]  # untyped
    with _folder_locked(directory, exclusive=False):
        return generate_latest(registry)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics() -> Response:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    body = exposition(Path(directory)) if directory else generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
