"""Secrets generation, the Dockerfile and the build context: no secret ever
lands in git or in an image; images are non-root, slim and health-checked."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.keys import load_private_key

ROOT = Path(__file__).resolve().parents[2]
MAKE_SECRETS = ROOT / "deploy" / "scripts" / "make-secrets.sh"
PASSWORDS = ("postgres_password", "migrator_password", "auth_db_password", "resource_db_password")


def run_make_secrets(target: Path) -> str:
    result = subprocess.run(["bash", str(MAKE_SECRETS), str(target)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_secrets_creates_strong_secrets_with_safe_permissions(tmp_path: Path):
    target = tmp_path / "secrets"
    run_make_secrets(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    for name in PASSWORDS:
        value = (target / name).read_text()
        assert re.fullmatch(r"[A-Za-z0-9]{32}", value), name
        # readable by the containers' non-root users; the folder guards the host
        assert stat.S_IMODE((target / name).stat().st_mode) == 0o644
    assert len({(target / name).read_text() for name in PASSWORDS}) == len(PASSWORDS)
    key = load_private_key((target / "jwt_private_key").read_bytes())
    assert isinstance(key, Ed25519PrivateKey)
    assert b"BEGIN PUBLIC KEY" in (target / "jwt_public_key.pem").read_bytes()


def test_make_secrets_never_overwrites(tmp_path: Path):
    target = tmp_path / "secrets"
    run_make_secrets(target)
    before = {path.name: path.read_bytes() for path in target.iterdir()}
    assert "nothing changed" in run_make_secrets(target)
    assert {path.name: path.read_bytes() for path in target.iterdir()} == before
    (target / "auth_db_password").unlink()
    assert "created auth_db_password" in run_make_secrets(target)
    after = {path.name: path.read_bytes() for path in target.iterdir()}
    assert after["auth_db_password"] != before["auth_db_password"]
    assert {k: v for k, v in after.items() if k != "auth_db_password"} == {
        k: v for k, v in before.items() if k != "auth_db_password"
    }


def test_secrets_are_git_ignored():
    result = subprocess.run(
        ["git", "check-ignore", "-q", "secrets/jwt_private_key"], cwd=ROOT, capture_output=True, check=False
    )
    assert result.returncode == 0, "secrets/ must be in .gitignore"


def test_the_build_context_is_an_allow_list():
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything out, then only what the image needs back in
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {"requirements/base.txt", "requirements/build.txt", "pyproject.toml", "services", "migrations"}


def _stages(dockerfile: str) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    # join continuation lines
    text = re.sub(r"\\\n", " ", dockerfile)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = [line]
            stages[match.group(2) or match.group(1)] = current
        else:
            current.append(line)
    return stages


def test_dockerfile_images_are_non_root_health_checked_and_secret_free():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.1\d+-slim$", dockerfile, re.MULTILINE)
    for forbidden in ("--mount", "--chmod", "<<"):  # the classic builder must build it
        assert forbidden not in dockerfile
    stages = _stages(dockerfile)
    assert {"builder", "app", "auth", "resource", "migrate"} <= stages.keys()
    app = "\n".join(stages["app"])
    assert "USER 10001:10001" in app
    assert "HEALTHCHECK" in app and "/livez" in app
    assert "PYTHONDONTWRITEBYTECODE=1" in app and "PYTHONUNBUFFERED=1" in app
    assert "COPY --from=builder /opt/venv /opt/venv" in app
    # the runtime stage installs nothing: no compilers, no package caches
    assert not re.search(r"apt-get|pip install|gcc|build-essential", app)
    for name in ("auth", "resource", "migrate"):
        body = "\n".join(stages[name])
        assert stages[name][0].split()[1] == "app", f"{name} must build on the app stage"
        assert "USER" not in body.replace("USER 10001", "")  # never switches back to root
        assert "CMD" in body
    assert "gunicorn" in "\n".join(stages["auth"]) and "auth_service.main:app" in "\n".join(stages["auth"])
    assert "resource_service.main:app" in "\n".join(stages["resource"])
    assert '"-m", "migrations"' in "\n".join(stages["migrate"])
    for stage in stages.values():
        for line in stage:
            assert not re.search(r"(secret|\.pem|password)", line, re.IGNORECASE) or line.startswith("#"), line
