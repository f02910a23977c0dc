"""The one-shot migration job: `python -m migrations`.

Takes a PostgreSQL advisory lock (so two jobs started at once run one after
the other), upgrades the schema to head, then creates or updates the
services' login roles and their grants, and the monitoring role
(postgres-exporter's) when it has a password. Exits non-zero on any failure.
"""

import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from migrations import roles
from migrations.lineage import record_lineage
from migrations.lock import ADVISORY_LOCK_KEY
from migrations.settings import MigrationSettings
from servicekit.db import database_url
from servicekit.logs import configure_logging, get_logger

log = get_logger("migrate")
# The installed package is its own script location: the job runs from any
# folder and needs no alembic.ini (that file is for `alembic revision`).
SCRIPT_LOCATION = Path(__file__).resolve().parent


def _migrate(connection: Connection, settings: MigrationSettings) -> None:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    recorded = record_lineage(connection, ScriptDirectory.from_config(config))
    connection.commit()
    log.info("lineage_recorded", revisions=recorded)
    passwords = {
        roles.AUTH_ROLE: settings.auth_db_password.get_secret_value(),
        roles.RESOURCE_ROLE: settings.resource_db_password.get_secret_value(),
    }
    for role, password in passwords.items():
        if password:
            roles.ensure_role(connection, role, password)
        else:
            log.warning("role_password_unset", role=role)
    roles.apply_grants(connection)
    monitor_password = settings.monitor_db_password.get_secret_value()
    if not monitor_password:
        log.info("monitor_role_skipped", reason="MONITOR_DB_PASSWORD is empty")
    elif not roles.ensure_monitor_role(connection, monitor_password):
        log.error(
            "monitor_role_not_granted", user=connection.scalar(text("SELECT current_user")), fix=roles.MONITOR_GRANT_FIX
        )
    connection.commit()


async def main() -> None:
    settings = MigrationSettings()
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    engine = create_async_engine(database_url(settings))
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            await connection.commit()
            await connection.run_sync(_migrate, settings)
            head = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    log.info("migrated", head=head)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception:
        log.exception("migration_failed")
        sys.exit(1)
