import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from migrations.lock import ADVISORY_LOCK_KEY
from migrations.roles import AUTH_ROLE, MONITOR_ROLE, RESOURCE_ROLE, TABLE_GRANTS
from servicekit.db import database_url
from servicekit.settings import ServiceSettings
from tests.helpers.database import (
    AUTH_DB_PASSWORD,
    MONITOR_DB_PASSWORD,
    RESOURCE_DB_PASSWORD,
    Database,
    run_alembic,
    run_migrations,
)
from tests.helpers.gateway import json_lines


def test_models_and_migrations_agree(database: Database) -> None:
    result = run_alembic(database, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_upgrade_downgrade_upgrade_round_trips(scratch_database: Database) -> None:
    for step in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        result = run_alembic(scratch_database, *step)
        assert result.returncode == 0, result.stderr
    tables = (
        scratch_database.cluster.psql(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
            scratch_database.name,
        )
        .strip()
        .split(",")
    )
    assert set(tables) == {
        "users",
        "sessions",
        "refresh_tokens",
        "items",
        "bookmarks",
        "row_counts",
        "alembic_version",
        "schema_history",
    }


def test_two_jobs_at_once_both_succeed(scratch_database: Database) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_migrations(scratch_database.migrator_env), range(2)))
    assert [result.returncode for result in results] == [0, 0], [result.stderr for result in results]
    versions = scratch_database.cluster.psql("SELECT count(*) FROM alembic_version", scratch_database.name)
    assert versions.strip() == "1"


async def test_a_job_waits_while_another_holds_the_migration_lock(scratch_database: Database) -> None:
    cluster = scratch_database.cluster
    superuser = scratch_database.settings_kwargs(cluster.superuser, cluster.password)
    settings = ServiceSettings(environment="test", **superuser)
    engine = create_async_engine(database_url(settings))
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            job = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "migrations",
                cwd=tempfile.gettempdir(),
                env={**os.environ, "ENVIRONMENT": "test", **scratch_database.migrator_env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                waiting = 0
                for _ in range(100):  # until the job is queued on our lock
                    await asyncio.sleep(0.1)
                    waiting = await holder.scalar(
                        text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                    )
                    if waiting:
                        break
                assert waiting == 1
                assert job.returncode is None  # still waiting
                tables = await holder.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
                assert tables == 0  # nothing migrated while we hold the lock
            finally:
                await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            _, stderr = await asyncio.wait_for(job.communicate(), timeout=120)
        assert job.returncode == 0, stderr.decode()
    finally:
        await engine.dispose()


def test_job_fails_loudly_on_a_bad_connection(database: Database) -> None:
    result = run_migrations({**database.migrator_env, "DB_PASSWORD": "wrong"})
    assert result.returncode == 1
    assert "migration_failed" in result.stderr
    assert "wrong" not in result.stderr.replace("wrong_", "")


def _as(database: Database, role: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "psql",
            "-h",
            database.cluster.host,
            "-p",
            str(database.cluster.port),
            "-U",
            role,
            "-d",
            database.name,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        ],
        env={**os.environ, "PGPASSWORD": password},
        capture_output=True,
        text=True,
        timeout=30,
    )


ROLES = {AUTH_ROLE: AUTH_DB_PASSWORD, RESOURCE_ROLE: RESOURCE_DB_PASSWORD}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_reaches_only_its_own_tables(database: Database, role: str) -> None:
    tables = database.cluster.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", database.name
    ).split()
    for table in tables:
        result = _as(database, role, ROLES[role], f"SELECT * FROM {table} LIMIT 0")
        assert (result.returncode == 0) == (table in TABLE_GRANTS[role]), (role, table, result.stderr)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_service_roles_cannot_change_the_schema(database: Database, role: str) -> None:
    result = _as(database, role, ROLES[role], "CREATE TABLE intruder (id int)")
    assert result.returncode != 0
    assert "permission denied" in result.stderr


def test_the_monitoring_role_reads_statistics_and_no_table(database: Database) -> None:
    # What postgres-exporter reads: every session's state (pg_monitor shows
    # other roles' queries), settings, database sizes.
    seen = _as(
        database,
        MONITOR_ROLE,
        MONITOR_DB_PASSWORD,
        "SELECT count(*) FROM pg_stat_activity WHERE query = '<insufficient privilege>';"
        " SELECT setting FROM pg_settings WHERE name = 'max_connections';"
        f" SELECT pg_database_size('{database.name}') > 0",
    )
    assert seen.returncode == 0, seen.stderr
    hidden, _, sized = seen.stdout.split()
    assert (hidden, sized) == ("0", "t")
    tables = database.cluster.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", database.name
    ).split()
    assert tables
    for table in tables:
        result = _as(database, MONITOR_ROLE, MONITOR_DB_PASSWORD, f"SELECT * FROM {table} LIMIT 0")
        assert result.returncode != 0 and "permission denied" in result.stderr, (table, result.stderr)
    role = database.cluster.psql(
        f"SELECT rolconnlimit, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = '{MONITOR_ROLE}'"
    )
    assert role.strip() == "3|f|f"


def test_without_the_right_to_grant_pg_monitor_the_job_migrates_and_says_what_to_do(
    scratch_database: Database,
) -> None:
    # A database made before the migration role was given pg_monitor WITH
    # ADMIN OPTION (data kept across `make down`), or a managed one: the
    # migration still runs, and the log names the fix.
    scratch_database.cluster.psql("REVOKE pg_monitor FROM migrator")
    try:
        result = run_migrations(scratch_database.migrator_env)
        assert result.returncode == 0, result.stderr
        (line,) = [e for e in json_lines(result.stderr) if e.get("event") == "monitor_role_not_granted"]
        assert line["level"] == "error" and "WITH ADMIN OPTION" in line["fix"] and "MONITOR_DB_PASSWORD" in line["fix"]
        assert MONITOR_DB_PASSWORD not in result.stderr
        skipped = run_migrations({**scratch_database.migrator_env, "MONITOR_DB_PASSWORD": ""})
        assert skipped.returncode == 0, skipped.stderr
        assert "monitor_role_skipped" in skipped.stderr
    finally:
        scratch_database.cluster.psql("GRANT pg_monitor TO migrator WITH ADMIN OPTION")
        restored = run_migrations(scratch_database.migrator_env)
        assert restored.returncode == 0, restored.stderr


def test_role_passwords_with_quotes_colons_and_percents_work(scratch_database: Database) -> None:
    # Roles are cluster-wide: the job re-sets the usual passwords afterwards.
    awkward = "it's :a %s %L $1 \\ pässwörd"
    env = {**scratch_database.migrator_env, "AUTH_DB_PASSWORD": awkward}
    try:
        result = run_migrations(env)
        assert result.returncode == 0, result.stderr
        login = _as(scratch_database, AUTH_ROLE, awkward, "SELECT current_user")
        assert login.returncode == 0, login.stderr
        assert login.stdout.strip() == AUTH_ROLE
    finally:
        restored = run_migrations(scratch_database.migrator_env)
        assert restored.returncode == 0, restored.stderr


def test_role_passwords_reach_postgresql_only_as_scram_verifiers(scratch_database: Database) -> None:
    # Every statement on this database goes to the server log: the job must
    # never have sent a password in one.
    scratch_database.cluster.psql(f"ALTER DATABASE {scratch_database.name} SET log_statement = 'all'")
    result = run_migrations(scratch_database.migrator_env)
    assert result.returncode == 0, result.stderr
    server_log = scratch_database.cluster.logfile.read_text()
    assert "ROLE auth_svc WITH LOGIN" in server_log  # the statements were logged...
    assert AUTH_DB_PASSWORD not in server_log  # ...with verifiers, not passwords
    assert RESOURCE_DB_PASSWORD not in server_log
    stored = scratch_database.cluster.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{AUTH_ROLE}'")
    assert stored.strip().startswith("SCRAM-SHA-256$4096:")


def test_the_migration_role_owns_the_schema_but_is_no_superuser(database: Database) -> None:
    role = database.cluster.psql("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'migrator'")
    assert role.strip() == "f|t"
    owners = database.cluster.psql(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", database.name
    ).split()
    assert owners == ["migrator"]


def test_existing_logins_become_sessions(scratch_database: Database) -> None:
    """The sessions revision keeps logins made before it working: one session
    per refresh-token family, revoked when all its tokens were, and
    downgrading gives the tokens their revocation back."""
    assert run_alembic(scratch_database, "upgrade", "35ad13f4bf80").returncode == 0
    user, live, dead = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    psql = scratch_database.cluster.psql
    psql(
        f"""
        INSERT INTO users (id, email, password_hash) VALUES ('{user}', 'old@example.com', 'x');
        INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at, used_at, revoked_at)
        VALUES (gen_random_uuid(), '{user}', '{live}', 'a', now() - interval '3 days', now() + interval '11 days',
                now() - interval '1 day', NULL),
               (gen_random_uuid(), '{user}', '{live}', 'b', now() - interval '1 day', now() + interval '13 days',
                NULL, NULL),
               (gen_random_uuid(), '{user}', '{dead}', 'c', now() - interval '2 days', now() + interval '12 days',
                NULL, now() - interval '1 hour');
        """,
        scratch_database.name,
    )
    assert run_alembic(scratch_database, "upgrade", "head").returncode == 0
    rows = psql(
        "SELECT id, revoked_at IS NULL, created_at < now() - interval '71 hours',"
        " expires_at > now() + interval '26 days' FROM sessions ORDER BY revoked_at NULLS FIRST",
        scratch_database.name,
    ).split()
    assert rows == [f"{live}|t|t|t", f"{dead}|f|f|t"]
    columns = psql(
        "SELECT string_agg(column_name, ',') FROM information_schema.columns WHERE table_name = 'refresh_tokens'"
        " AND column_name = 'revoked_at'",
        scratch_database.name,
    )
    assert columns.strip() == ""

    assert run_alembic(scratch_database, "downgrade", "35ad13f4bf80").returncode == 0
    revoked = psql("SELECT token_hash FROM refresh_tokens WHERE revoked_at IS NOT NULL", scratch_database.name)
    assert revoked.split() == ["c"]
