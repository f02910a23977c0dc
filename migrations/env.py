import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from migrations.lock import ADVISORY_LOCK_KEY
from migrations.models import metadata
from migrations.settings import MigrationSettings
from servicekit.db import database_url


def _run(connection: Connection) -> None:
    # Session-level and re-entrant: a second job waits here, then finds
    # nothing left to do.
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    try:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})


async def _run_with_own_engine() -> None:
    engine = create_async_engine(database_url(MigrationSettings()))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

connection = context.config.attributes.get("connection")
if connection is not None:  # handed over by `python -m migrations`
    _run(connection)
else:  # the alembic command line
    asyncio.run(_run_with_own_engine())
