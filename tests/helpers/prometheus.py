"""promtool, from Debian's prometheus package (tools/install-host-deps.sh
installs it): the rule tests and the dashboard test run it. Missing, they
fail - never skip."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    """promtool's output; the test fails with it unless promtool exits 0."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run tools/install-host-deps.sh (Debian's prometheus package)")
    result = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
