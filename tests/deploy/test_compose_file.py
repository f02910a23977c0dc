"""docker-compose.yml, read as data: every setting the README documents can
be given to the compose stack from the environment or an .env file, without
editing the file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hoststack.gateway import GATEWAY_DEFAULTS, TEMPLATE_VARIABLES

ROOT = Path(__file__).resolve().parents[2]

# Settings the compose file wires itself (addresses, roles, secret files,
# paths inside the image): an operator changes these by changing the
# deployment, not by tuning it.
WIRED_BY_COMPOSE = {
    "ENVIRONMENT", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "HOST", "PORT", "LOG_FORMAT",
    "RATE_LIMIT_STORAGE_URI", "JWT_PRIVATE_KEY_FILE", "JWT_PRIVATE_KEY", "JWT_PREVIOUS_PUBLIC_KEYS_FILE",
    "AUTH_DB_PASSWORD", "RESOURCE_DB_PASSWORD", "PROMETHEUS_MULTIPROC_DIR", "FORWARDED_ALLOW_IPS", "JWKS_URL",
    "JWT_PUBLIC_KEY_FILE", "REDIS_PASSWORD",
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


# --- Redis's password ---------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def _secret_names(service: dict[str, Any]) -> set[str]:
    return {entry if isinstance(entry, str) else entry.get("target", entry["source"]) for entry in service["secrets"]}


def test_redis_loads_its_password_from_a_secret_file_never_from_its_command():
    redis = _compose()["services"]["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--aclfile") + 1] == "/run/secrets/redis_acl"
    assert not any("pass" in str(argument) for argument in command)  # no --requirepass in `docker inspect`
    assert {"redis_acl", "redis_password"} <= _secret_names(redis)


def test_the_redis_healthcheck_authenticates_through_rediscli_auth():
    kind, script = _compose()["services"]["redis"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert script.startswith('REDISCLI_AUTH="$$(cat /run/secrets/redis_password)" redis-cli ')
    assert " -a " not in script and "--pass" not in script  # on redis-cli's command line it would show in `ps`
    assert script.endswith("| grep -qx PONG")  # redis-cli exits 0 on NOAUTH


def test_the_services_get_redis_password_as_a_file_and_a_uri_without_one():
    compose = _compose()
    for name in ("auth", "resource"):
        service = compose["services"][name]
        assert "redis_password" in _secret_names(service), name
        uri = service["environment"]["RATE_LIMIT_STORAGE_URI"]
        assert uri.startswith("redis://") and "@" not in uri, name
        assert "REDIS_PASSWORD" not in service["environment"], name
    assert "redis_password" not in _secret_names(compose["services"]["migrate"])
    defined = compose["secrets"]
    for name in ("redis_password", "redis_acl"):
        assert defined[name] == {"file": f"./secrets/{name}"}


def test_no_password_is_written_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"requirepass|://[^/\s]*:[^/\s]*@", text, re.IGNORECASE)  # no redis://:pw@host
    for name, service in _compose()["services"].items():
        environment = service.get("environment") or {}
        assert not [key for key in environment if key.endswith(("PASSWORD", "_KEY"))], name  # files only


# --- the gateway's template variables ----------------------------------------------------------
def test_the_gateway_gets_every_template_variable_and_the_launchers_defaults():
    gateway = _compose()["services"]["gateway"]["environment"]
    # the nginx image substitutes only names that match the filter and are set
    substituted = re.compile(gateway["NGINX_ENVSUBST_FILTER"])
    for name in TEMPLATE_VARIABLES:
        assert name in gateway and substituted.search(name), name
    for name, default in GATEWAY_DEFAULTS.items():
        assert gateway[name] == f"${{{name}:-{default}}}", name  # tunable from .env, same default
        assert substituted.search(name), name
