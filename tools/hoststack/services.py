"""The Python pieces on the host: the one-shot migration job and the two
services under gunicorn, started exactly as their containers start them and
configured with the same environment variable names as docker-compose.yml."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hoststack.procs import ManagedProcess, StartupError, free_port, http_status, tail, wait_until


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    app: str  # the gunicorn app, module:attribute
    db_user: str


AUTH = ServiceSpec("auth", "auth_service.main:app", "auth_svc")
RESOURCE = ServiceSpec("resource", "resource_service.main:app", "resource_svc")
SPECS = {spec.name: spec for spec in (AUTH, RESOURCE)}


def run_migrations(env: Mapping[str, str], log_path: Path, timeout: float = 120.0) -> None:
    """`python -m migrations`, like the compose job (from the log's folder:
    the installed job needs no particular working directory)."""
    with open(log_path, "ab") as log:
        result = subprocess.run(
            [sys.executable, "-m", "migrations"],
            cwd=log_path.parent,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise StartupError(f"the migration job exited with {result.returncode}; {log_path}:\n{tail(log_path)}")


class Service:
    """One service: gunicorn with uvicorn workers on 127.0.0.1:<port>."""

    host = "127.0.0.1"

    def __init__(self, spec: ServiceSpec, run_dir: Path, *, env: Mapping[str, str], port: int | None = None):
        self.spec = spec
        self.port = port or free_port()
        self.metrics_dir = run_dir / f"{spec.name}-metrics"
        self.log_path = run_dir / f"{spec.name}.log"
        self.env = {
            **env,
            "HOST": self.host,
            "PORT": str(self.port),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        self.process = ManagedProcess(
            spec.name,
            [sys.executable, "-m", "gunicorn", "-c", "python:servicekit.gunicorn_conf", spec.app],
            env=self.env,
            cwd=run_dir,
            log_path=self.log_path,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def upstream(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0, between: Callable[[], None] = lambda: None) -> None:
        wait_until(
            lambda: http_status(f"{self.url}/readyz") == 200,
            timeout=timeout,
            process=self.process,
            what="ready (/readyz)",
            interval=0.2,
            between=between,
        )

    def stop(self) -> None:
        self.process.stop(timeout=25.0)  # gunicorn's graceful_timeout is 20 s
