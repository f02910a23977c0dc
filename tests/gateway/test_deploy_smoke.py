"""The deploy pipeline's smoke step (deploy/scripts/deploy.sh smoke) against
the host stack's gateway, as it runs against a cluster's public URL: it
passes on a healthy stack, and the throwaway account it made is gone."""

from __future__ import annotations

import subprocess

from hoststack.stack import DB_NAME, Stack
from tests.helpers import ROOT


def test_the_smoke_step_passes_and_leaves_no_account_behind(stack: Stack) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "scripts" / "deploy.sh"), "smoke"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "PUBLIC_URL": stack.gateway_url},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "smoke: register a throwaway account: 201" in result.stderr
    assert "smoke: DELETE /users/me: 204" in result.stderr
    assert stack.postgres is not None
    left = stack.postgres.psql("SELECT count(*) FROM users WHERE email LIKE 'smoke-%'", DB_NAME)
    assert left.strip() == "0"


def test_the_smoke_step_fails_when_the_stack_is_not_healthy(stack: Stack) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "scripts" / "deploy.sh"), "smoke"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "PUBLIC_URL": f"{stack.gateway_url}/nowhere"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "FAILED: smoke: GET /healthz: expected HTTP 200, got 404" in result.stderr
