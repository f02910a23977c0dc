"""The test database: the app database on a throwaway PostgreSQL cluster, the
role passwords this run made up, and the real migration job that creates the
schema and the roles."""

import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

from hoststack.postgres import MIGRATION_ROLE, PostgresCluster
from tests.helpers import ROOT

DB_NAME = "app"
MIGRATOR_PASSWORD = "migrator-" + uuid.uuid4().hex
AUTH_DB_PASSWORD = "auth-" + uuid.uuid4().hex
RESOURCE_DB_PASSWORD = "resource-" + uuid.uuid4().hex
MONITOR_DB_PASSWORD = "monitor-" + uuid.uuid4().hex


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
            "MONITOR_DB_PASSWORD": MONITOR_DB_PASSWORD,
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


def run_alembic(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    """The alembic command line (`upgrade <revision>`, `downgrade -1`, ...) as the migration role."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env={**os.environ, "ENVIRONMENT": "test", **database.migrator_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
