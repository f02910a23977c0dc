"""Session-wide fixtures: one throwaway PostgreSQL cluster, migrated once by
the real migration job, and a development signing key.

Tests isolate themselves with unique data (every test registers its own
users), so they see real commits, a real pool and real constraints.
"""

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hoststack.postgres import MIGRATION_ROLE, PostgresCluster

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "app"
MIGRATOR_PASSWORD = "migrator-" + uuid.uuid4().hex
AUTH_DB_PASSWORD = "auth-" + uuid.uuid4().hex
RESOURCE_DB_PASSWORD = "resource-" + uuid.uuid4().hex


@dataclass(frozen=True)
class Database:
    cluster: PostgresCluster
    name: str

    def env(self, user: str, password: str) -> dict[str, str]:
        return {
            "DB_HOST": self.cluster.host,
            "DB_PORT": str(self.cluster.port),
            "DB_NAME": self.name,
            "DB_USER": user,
            "DB_PASSWORD": password,
        }

    @property
    def migrator_env(self) -> dict[str, str]:
        return {
            **self.env(MIGRATION_ROLE, MIGRATOR_PASSWORD),
            "AUTH_DB_PASSWORD": AUTH_DB_PASSWORD,
            "RESOURCE_DB_PASSWORD": RESOURCE_DB_PASSWORD,
        }

    def settings_kwargs(self, user: str, password: str) -> dict[str, Any]:
        return {key.lower(): value for key, value in self.env(user, password).items()}


def run_migrations(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrations", *args],
        cwd=tempfile.gettempdir(),  # the installed job runs from any folder
        env={**os.environ, "ENVIRONMENT": "test", "LOG_FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def database(postgres: PostgresCluster) -> Database:
    postgres.create_app_database(DB_NAME, MIGRATOR_PASSWORD)
    db = Database(postgres, DB_NAME)
    result = run_migrations(db.migrator_env)
    assert result.returncode == 0, result.stderr
    return db


def write_private_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "jwt_private_key.pem"
    write_private_key(path)
    return path
