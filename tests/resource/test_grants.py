"""What the resource service's database role may do (migrations/roles.py):
its own tables fully, the row counts its tables' triggers keep read-only,
`users.id` alone (to tell a deleted account from a
missing row), whether a session is active (not what it was used from), and
nothing else."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from servicekit.db import database_url
from tests.helpers.accounts import Account
from tests.helpers.apps import make_resource_settings
from tests.helpers.database import Database


@pytest.fixture(scope="module")
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url(make_resource_settings(database)))
    yield engine
    await engine.dispose()


async def test_may_see_that_a_user_exists(engine: AsyncEngine, account: Account) -> None:
    async with engine.connect() as connection:
        found = await connection.scalar(text("SELECT id FROM users WHERE id = CAST(:id AS uuid)"), {"id": account.id})
    assert str(found) == account.id


async def test_may_see_whether_a_session_is_active(engine: AsyncEngine, account: Account) -> None:
    async with engine.connect() as connection:
        active = await connection.scalar(
            text("SELECT revoked_at IS NULL AND expires_at > now() FROM sessions WHERE user_id = CAST(:id AS uuid)"),
            {"id": account.id},
        )
    assert active is True


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT password_hash FROM users LIMIT 1",
        "SELECT email FROM users LIMIT 1",
        "SELECT * FROM users LIMIT 1",
        "UPDATE users SET email = email",
        "DELETE FROM users WHERE false",
        "INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), 'x@example.com', 'x')",
        "SELECT * FROM refresh_tokens LIMIT 1",
        "DELETE FROM refresh_tokens WHERE false",
        "SELECT user_agent FROM sessions LIMIT 1",
        "UPDATE sessions SET revoked_at = NULL WHERE false",
        "DELETE FROM sessions WHERE false",
        "DELETE FROM alembic_version WHERE false",
        "TRUNCATE items",
        "UPDATE row_counts SET rows = rows + 1",
        "DELETE FROM row_counts WHERE false",
        "INSERT INTO row_counts (owner_id, kind, rows) SELECT id, 'items', 1 FROM users LIMIT 1",
        "TRUNCATE row_counts",
        "ALTER TABLE items ADD COLUMN intruder int",
    ],
)
async def test_may_not(engine: AsyncEngine, statement: str) -> None:
    async with engine.connect() as connection:
        with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"):
            await connection.execute(text(statement))


async def test_may_read_the_counts_the_database_keeps(engine: AsyncEngine, account: Account) -> None:
    async with engine.connect() as connection:
        await connection.execute(
            text("SELECT rows FROM row_counts WHERE owner_id = CAST(:id AS uuid)"), {"id": account.id}
        )


@pytest.mark.parametrize("table", ["items", "bookmarks"])
async def test_owns_the_rows_of_its_tables(engine: AsyncEngine, table: str) -> None:
    async with engine.connect() as connection:
        for statement in (
            f"SELECT * FROM {table} LIMIT 0",
            f"UPDATE {table} SET version = version WHERE false",
            f"DELETE FROM {table} WHERE false",
        ):
            await connection.execute(text(statement))
