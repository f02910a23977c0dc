"""The production backup script (k8s/overlays/prod/backup.sh, run by the
prod overlay's CronJob), run for real on the host against the test
PostgreSQL as the migration role: a dump pg_restore can read, readable by
its owner alone, old dumps past the retention removed, and a pg_dump older
than the server refused with a clear message before it tries."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from hoststack.postgres import MIGRATION_ROLE
from tests.helpers import ROOT
from tests.helpers.database import MIGRATOR_PASSWORD, Database

SCRIPT = ROOT / "k8s" / "overlays" / "prod" / "backup.sh"


@pytest.fixture
def folders(tmp_path: Path, database: Database) -> tuple[Path, Path]:
    secrets, backups = tmp_path / "secrets", tmp_path / "backups"
    secrets.mkdir()
    backups.mkdir()
    files = {
        "db_host": database.cluster.host,
        "db_port": str(database.cluster.port),
        "db_name": database.name,
        "db_password": MIGRATOR_PASSWORD,
    }
    for name, value in files.items():
        (secrets / name).write_text(value)
    return secrets, backups


def backup(database: Database, secrets: Path, backups: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path,
        "PGUSER": MIGRATION_ROLE,
        "SECRETS_DIR": str(secrets),
        "BACKUP_DIR": str(backups),
        "BACKUP_RETENTION_DAYS": "14",
        "HOME": str(backups.parent),
    }
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_backup_writes_a_restorable_dump_and_keeps_the_retention(
    database: Database, folders: tuple[Path, Path]
) -> None:
    secrets, backups = folders
    old, recent = backups / "app-20200101T000000Z.dump", backups / "app-20200102T000000Z.dump"
    for dump, days in ((old, 15), (recent, 13)):
        dump.write_bytes(b"an earlier dump")
        stamp = time.time() - days * 86400 - 3600
        os.utime(dump, (stamp, stamp))
    result = backup(database, secrets, backups, f"{database.cluster.bindir}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stderr
    print(result.stdout.strip())
    (dump,) = [path for path in backups.glob("app-*.dump") if path not in (old, recent)]
    assert f"backup: {dump}," in result.stdout
    assert dump.stat().st_mode & 0o077 == 0  # its owner's alone
    assert not list(backups.glob("*.partial"))
    listing = subprocess.run(
        [str(database.cluster.bindir / "pg_restore"), "--list", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for table in ("users", "items", "bookmarks", "alembic_version"):
        assert f"TABLE public {table} " in listing, table
    assert not old.exists() and recent.exists()  # past the 14 days, and within them


def test_a_pg_dump_older_than_the_server_is_refused_before_it_tries(
    database: Database, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    secrets, backups = folders
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    (fake / "pg_dump").chmod(0o755)
    result = backup(database, secrets, backups, f"{fake}:{database.cluster.bindir}:{os.environ['PATH']}")
    assert result.returncode == 1
    assert "pg_dump 9 is older than the server" in result.stderr
    assert not list(backups.iterdir())
