"""A rollout: the next release's migration job runs while this release still
serves (and a `rollout undo` brings this release back to the next schema).
This code must stay ready and working on a schema that is a descendant of
its head - migrations are expand-then-contract - and must not call ready a
schema it cannot place."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from auth_service.main import create_app as create_auth_app
from migrations.lineage import record_lineage
from resource_service.main import create_app as create_resource_app
from servicekit.db import database_url
from servicekit.settings import ServiceSettings, installed_migrations
from tests.helpers.accounts import register_and_login
from tests.helpers.apps import jwks_from, make_auth_settings, make_resource_settings
from tests.helpers.database import MIGRATOR_PASSWORD, Database, run_migrations

NEXT_REVISION = "0ecf7ba1e001"
NEXT_STEP = '''"""next release: items get a colour (an expanding step)"""
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("colour", sa.String(20), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "colour")
'''


def _config(folder: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(folder))
    return config


def _next_release(tmp_path: Path) -> Path:
    """The next release's migration history: ours plus one expanding step."""
    folder = tmp_path / "next-migrations"
    shutil.copytree(installed_migrations(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    (head,) = ScriptDirectory.from_config(_config(folder)).get_heads()
    (folder / "versions" / f"next_{NEXT_REVISION}.py").write_text(NEXT_STEP.format(revision=NEXT_REVISION, head=head))
    return folder


def _upgrade(connection: Connection, folder: Path) -> None:
    """What the next release's job does: upgrade, then record the lineage."""
    config = _config(folder)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    record_lineage(connection, ScriptDirectory.from_config(config))
    connection.commit()


@pytest.fixture
async def next_schema(database: Database, tmp_path: Path) -> Database:
    """A database this release's job migrated, then the next release's."""
    scratch = Database(database.cluster, f"rollout_{uuid.uuid4().hex[:8]}")
    database.cluster.create_app_database(scratch.name, MIGRATOR_PASSWORD)
    result = await asyncio.to_thread(run_migrations, scratch.migrator_env)
    assert result.returncode == 0, result.stderr
    settings = ServiceSettings(environment="test", **scratch.settings_kwargs("migrator", MIGRATOR_PASSWORD))
    engine = create_async_engine(database_url(settings))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade, _next_release(tmp_path))
    finally:
        await engine.dispose()
    return scratch


@pytest.fixture
async def this_release(next_schema: Database, signing_key_file: Path) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Both services of this release, on the next release's schema."""
    auth = create_auth_app(make_auth_settings(next_schema, signing_key_file))
    keys = jwks_from(auth)
    resource = create_resource_app(make_resource_settings(next_schema), key_source=keys)
    async with AsyncExitStack() as stack:
        clients = {}
        for name, app in (("auth", auth), ("resource", resource)):
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(_client(app))
        yield clients
    await keys.aclose()


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_the_job_records_every_revision_it_passed_through(next_schema: Database) -> None:
    recorded = next_schema.cluster.psql("SELECT revision FROM schema_history ORDER BY revision", next_schema.name)
    ours = {
        revision.revision for revision in ScriptDirectory.from_config(_config(installed_migrations())).walk_revisions()
    }
    assert set(recorded.split()) == ours | {NEXT_REVISION}


async def test_this_release_stays_ready_and_working_on_the_next_schema(
    this_release: dict[str, httpx.AsyncClient],
) -> None:
    for client in this_release.values():
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "schema": "ok"}
    account = await register_and_login(this_release["auth"])
    created = await this_release["resource"].post("/items/", json={"title": "old code"}, headers=account.headers)
    assert created.status_code == 201, created.text
    listed = await this_release["resource"].get("/items/", headers=account.headers)
    assert [row["title"] for row in listed.json()] == ["old code"]


async def test_a_newer_schema_without_this_head_in_its_lineage_is_not_ready(
    next_schema: Database, this_release: dict[str, httpx.AsyncClient]
) -> None:
    (ours,) = ScriptDirectory.from_config(_config(installed_migrations())).get_heads()
    next_schema.cluster.psql(f"DELETE FROM schema_history WHERE revision = '{ours}'", next_schema.name)
    for client in this_release.values():
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "ok", "schema": "behind"}
