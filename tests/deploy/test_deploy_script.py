"""The deploy workflow's steps (deploy/scripts/deploy.sh) rehearsed with a
stub kubectl first on the PATH: it records every call, renders with the real
kubectl's kustomize, keeps what is applied, and can be told to fail any
step. The order is the release's safety: images set, render, the old Job
removed, the Job applied and waited for, and only then the services; a
failed Job or a Deployment that does not become ready stops everything after
it (the latter rolled back)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from tests.helpers.kube import kubectl

SCRIPT = ROOT / "deploy" / "scripts" / "deploy.sh"
DIGEST = "sha256:" + "ab" * 32
IMAGES = {
    f"IMAGE_{name.upper()}": f"ghcr.io/acme/svc-platform-{name}@{DIGEST}" for name in ("auth", "resource", "migrate")
}

STUB = r'''#!/usr/bin/env python3
"""A kubectl that records its calls (stub for tests/deploy/test_deploy_script.py)."""
import json, os, shutil, subprocess, sys
from pathlib import Path

args = sys.argv[1:]
log = Path(os.environ["STUB_LOG"])
with log.open("a") as handle:
    handle.write(json.dumps(args) + "\n")
line = " ".join(args)
fail_at = os.environ.get("STUB_FAIL_AT", "")
if fail_at and fail_at in line:
    sys.exit(1)
if args[0] == "kustomize":
    os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])
if args[0] == "apply":
    source = Path(args[args.index("-f") + 1])
    count = len(list(log.parent.glob("applied-*.yaml")))
    shutil.copy(source, log.parent / f"applied-{count}.yaml")
if "get" in args and "job" in args:
    print(os.environ.get("STUB_JOB_STATE", "Complete "), end="")
if "logs" in args:
    print('{"event": "migrated"}')
'''


@dataclass
class Stub:
    folder: Path

    @property
    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in (self.folder / "calls.jsonl").read_text().splitlines()]

    def verbs(self) -> list[str]:
        """Each call as its subcommand and object, e.g. 'delete job migrate'."""
        verbs = []
        for call in self.calls:
            words = [word for word in call if not word.startswith("-") and word != "svc-platform"]
            verbs.append(" ".join(words[:3]) if words[0] not in ("kustomize", "apply") else words[0])
        return verbs

    def applied(self, index: int) -> list[dict]:
        return [obj for obj in yaml.safe_load_all((self.folder / f"applied-{index}.yaml").read_text()) if obj]


@pytest.fixture
def stub(tmp_path: Path) -> Stub:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(STUB)
    (bin_dir / "kubectl").chmod(0o755)
    (tmp_path / "calls.jsonl").touch()
    return Stub(tmp_path)


def deploy(stub: Stub, step: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": f"{stub.folder / 'bin'}:{os.environ['PATH']}",
        "HOME": str(stub.folder),
        "STUB_LOG": str(stub.folder / "calls.jsonl"),
        "REAL_KUBECTL": kubectl(),
        "OVERLAY": "k8s/overlays/prod",
        **IMAGES,
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT), step], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_migrate_applies_the_job_with_the_new_image_after_removing_the_old_one(stub: Stub) -> None:
    result = deploy(stub, "migrate")
    assert result.returncode == 0, result.stderr
    assert stub.verbs() == ["kustomize", "delete job migrate", "apply", "get job migrate", "logs job/migrate"]
    (selector,) = [call[call.index("--selector") + 1] for call in stub.calls if call[0] == "apply"]
    assert selector == "app.kubernetes.io/component notin (api,gateway)"
    # what was applied holds the Job with the release's image by digest
    (job,) = [obj for obj in stub.applied(0) if obj["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGES["IMAGE_MIGRATE"]
    assert "migrated" in result.stdout + result.stderr


def test_a_failed_job_fails_the_step_after_printing_its_logs(stub: Stub) -> None:
    result = deploy(stub, "migrate", STUB_JOB_STATE="Failed ")
    assert result.returncode != 0
    assert "the migration Job failed: nothing is rolled out" in result.stderr
    assert stub.verbs()[-2:] == ["get job migrate", "logs job/migrate"]


def test_images_not_by_digest_stop_before_kubectl_is_called(stub: Stub) -> None:
    result = deploy(stub, "migrate", IMAGE_AUTH="ghcr.io/acme/svc-platform-auth:latest")
    assert result.returncode != 0 and "by digest" in result.stderr
    assert stub.calls == []


def test_rollout_applies_everything_then_waits_for_every_deployment(stub: Stub) -> None:
    result = deploy(stub, "rollout")
    assert result.returncode == 0, result.stderr
    assert stub.verbs() == [
        "kustomize",
        "apply",
        "rollout status deployment/auth",
        "rollout status deployment/resource",
        "rollout status deployment/gateway",
    ]
    images = {
        container["image"]
        for obj in stub.applied(0)
        if obj["kind"] == "Deployment"
        for container in obj["spec"]["template"]["spec"]["containers"]
    }
    assert {IMAGES["IMAGE_AUTH"], IMAGES["IMAGE_RESOURCE"]} <= images


def test_a_deployment_that_does_not_become_ready_is_rolled_back_and_stops_the_release(stub: Stub) -> None:
    result = deploy(stub, "rollout", STUB_FAIL_AT="rollout status deployment/resource --timeout")
    assert result.returncode != 0
    assert "rollout of deployment/resource failed (rolled back)" in result.stderr
    verbs = stub.verbs()
    assert verbs[verbs.index("rollout status deployment/resource") + 1] == "rollout undo deployment/resource"
    assert "rollout status deployment/gateway" not in verbs


@pytest.mark.parametrize("failing", ["kustomize", "delete job migrate", "apply"])
def test_any_failing_step_stops_everything_after_it(stub: Stub, failing: str) -> None:
    result = deploy(stub, "migrate", STUB_FAIL_AT=failing)
    assert result.returncode != 0
    assert stub.verbs()[-1].startswith(failing.split()[0])
    assert "logs job/migrate" not in stub.verbs()
