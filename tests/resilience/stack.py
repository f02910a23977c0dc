"""The operator's side of the fault suite: `make` targets as an operator runs
them, the compose stack's containers, and waiting for the gateway."""

import os
import subprocess
import time

from hoststack.procs import http_status, wait_until
from tests.helpers import ROOT


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
