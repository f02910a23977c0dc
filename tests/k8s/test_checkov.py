"""checkov over every rendered combination (the Kubernetes framework) and
over the Dockerfile: no failed check. It runs from its own pinned tool
environment (.venv-checkov, `make venv`), whose pins conflict with ours."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT
from tests.helpers.kube import Render

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"


def checkov(target: Path, framework: str) -> dict[str, Any]:
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} is missing: `make venv` installs checkov from requirements/checkov.txt")
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "--framework", framework, "--file", str(target),
         "--output", "json", "--skip-download", "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{check['check_id']} {check['check_name']}: {check['resource']}"
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def test_checkov_passes_every_rendered_combination(rendered: Render, tmp_path: Path) -> None:
    manifest = tmp_path / f"{rendered.name}.yaml"
    manifest.write_text(rendered.text)
    report = checkov(manifest, "kubernetes")
    summary = report["summary"]
    print(f"checkov {rendered.name}: {summary['passed']} passed, {summary['skipped']} skipped")
    assert not _failures(report), "\n".join(_failures(report))
    assert summary["passed"] > 300


def test_checkov_passes_the_dockerfile() -> None:
    report = checkov(ROOT / "Dockerfile", "dockerfile")
    print(f"checkov Dockerfile: {report['summary']['passed']} passed")
    assert not _failures(report), "\n".join(_failures(report))
    assert report["summary"]["passed"] > 50


def test_every_skip_says_why() -> None:
    skips = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert skips
    for check in skips:
        (line,) = [line for line in CONFIG.read_text().splitlines() if re.match(rf"\s*-\s*{check}\b", line)]
        reason = line.partition("#")[2].strip()
        assert len(reason) > 20, f"{check} is skipped without a reason"
