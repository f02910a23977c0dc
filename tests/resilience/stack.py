"""The operator's side of the fault suite: `make` targets as an operator runs
them, the compose stack's containers and their own probes, and waiting for
the gateway or for any condition."""

import os
import subprocess
import time
from collections.abc import Callable

from podrun.kubelet import docker

from hoststack.procs import http_status, wait_until
from tests.helpers import ROOT
from tests.helpers.platforms import ComposePlatform, service_answer, service_get


def make(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
        check=False,
    )
    print(f"make {' '.join(args)}: {time.monotonic() - started:.1f} s (exit {result.returncode})")
    if check:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        assert result.returncode == 0, f"make {' '.join(args)} failed:\n{output}"
    return result


def wait_for_gateway(gateway: str, timeout: float = 120) -> None:
    wait_until(lambda: http_status(f"{gateway}/healthz") == 200, timeout=timeout, what=f"a gateway at {gateway}")


def probe(container: str, path: str) -> int:
    """A service's own probe, from inside its container (never published)."""
    return service_answer(docker("exec", container, *service_get(path)))[0]


def every_replica_ready(compose: ComposePlatform) -> bool:
    """Each replica's /readyz: its one worker's pool (and breaker) reaches the database."""
    return all(
        probe(container, "/readyz") == 200
        for service in ("auth", "resource")
        for container in compose.containers(service)
    )


def until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Seconds until `condition` held (fails past `timeout`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(step)
    return time.monotonic() - started
