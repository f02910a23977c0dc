"""promtool, from Debian's prometheus package (tools/install-host-deps.sh
installs it): the rule tests and the dashboard test run it. Missing, they
fail - never skip. And a running Prometheus' targets, as its API reports them."""

import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.helpers import ROOT

if TYPE_CHECKING:
    from tests.helpers.platforms import ComposePlatform

PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    """promtool's output; the test fails with it unless promtool exits 0."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run tools/install-host-deps.sh (Debian's prometheus package)")
    result = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# The compose stack's jobs: the services' (a target per replica), and those
# with one target each.
REPLICATED_JOBS = ("auth", "resource")
SINGLE_TARGET_JOBS = {"gateway": 1, "postgres": 1, "redis": 1, "prometheus": 1}
COMPOSE_JOBS = (*REPLICATED_JOBS, *SINGLE_TARGET_JOBS)


def compose_targets(compose: "ComposePlatform") -> dict[str, int]:
    """The targets compose's Prometheus should scrape, by job: every running
    replica of both services (DNS service discovery) and each exporter."""
    return {job: len(compose.containers(job)) for job in REPLICATED_JOBS} | SINGLE_TARGET_JOBS


def api(prometheus: str, endpoint: str, **params: str) -> Any:
    """The `data` of an answer of Prometheus' HTTP API (`query`, `rules`,
    `alerts`, `targets`); the test fails if Prometheus refuses the call."""
    answer = httpx.get(f"{prometheus}/api/v1/{endpoint}", params=params, timeout=10).json()
    assert answer["status"] == "success", (endpoint, params, answer)
    return answer["data"]


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """The samples of an instant query."""
    return list(api(prometheus, "query", query=expr)["result"])


def targets_up(prometheus: str, expected: dict[str, int], timeout: float = 60) -> dict[str, int]:
    """Waits until Prometheus has scraped `expected` targets of each job, and
    every active target is up (a target just found reads "unknown" until its
    first scrape, up to a scrape interval later); returns the jobs' counts of
    targets up, what the caller asserts."""
    deadline = time.monotonic() + timeout
    while True:
        targets = api(prometheus, "targets", state="active")["activeTargets"]
        up = dict(Counter(target["labels"]["job"] for target in targets if target["health"] == "up"))
        everything = len(targets) == sum(up.values())
        if (all(up.get(job) == count for job, count in expected.items()) and everything) or time.monotonic() > deadline:
            return up if everything else {**up, "not up": len(targets) - sum(up.values())}
        time.sleep(1)
