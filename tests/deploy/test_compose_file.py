"""docker-compose.yml, read as data: every setting the README documents can
be given to the compose stack from the environment or an .env file, without
editing the file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

# Settings the compose file wires itself (addresses, roles, secret files,
# paths inside the image): an operator changes these by changing the
# deployment, not by tuning it.
WIRED_BY_COMPOSE = {
    "ENVIRONMENT", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "HOST", "PORT", "LOG_FORMAT",
    "RATE_LIMIT_STORAGE_URI", "JWT_PRIVATE_KEY_FILE", "JWT_PRIVATE_KEY", "JWT_PREVIOUS_PUBLIC_KEYS_FILE",
    "AUTH_DB_PASSWORD", "RESOURCE_DB_PASSWORD", "PROMETHEUS_MULTIPROC_DIR", "FORWARDED_ALLOW_IPS", "JWKS_URL",
    "JWT_PUBLIC_KEY_FILE",
}  # fmt: skip


def documented_settings() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| variable | default | who | what |", 1)[1].split("\n\n", 1)[0]
    names: set[str] = set()
    for row in table.splitlines()[2:]:
        first_cell = row.split("|")[1]
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def service_environment(service: str) -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose["services"][service]["environment"]


def test_the_readme_documents_settings():
    assert {"LOGIN_RATE_LIMIT", "DB_POOL_SIZE", "WRITE_RATE_LIMIT", "WEB_CONCURRENCY"} <= documented_settings()


def test_every_documented_tunable_reaches_the_services_from_the_environment():
    tunable = documented_settings() - WIRED_BY_COMPOSE
    for service in ("auth", "resource"):
        environment = service_environment(service)
        for name in sorted(tunable):
            assert name in environment, f"{name} cannot be set for {service} without editing docker-compose.yml"
            value = environment[name]
            # A bare name (None) passes the caller's value when set; otherwise
            # the value must interpolate the same variable, e.g. ${NAME:-2}.
            assert value is None or f"${{{name}" in str(value), f"{service}: {name} is fixed to {value!r}"


def test_the_wired_settings_are_really_documented():
    assert WIRED_BY_COMPOSE <= documented_settings(), WIRED_BY_COMPOSE - documented_settings()
