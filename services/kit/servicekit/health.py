"""Liveness, readiness and health probes.

`/livez` has no dependencies. `/readyz` and `/health` check the database with
a short timeout and that its schema is at the Alembic head this code expects;
they answer 503 with a JSON reason otherwise, and never leak internals.
"""

import asyncio
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from servicekit.errors import problem_response
from servicekit.logs import get_logger
from servicekit.state import ServiceState, service_state

log = get_logger(__name__)


def _script(migrations_dir: Path) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return ScriptDirectory.from_config(config)


class HealthProbe:
    """Ready when the database answers and its schema is this code's head, or
    a descendant of it: a release's migration job runs while the previous
    release still serves (and a `rollout undo` brings old code back to the
    new schema), so migrations are expand-then-contract and old code keeps
    working on a newer schema. A revision this code does not know is a
    descendant when the database's lineage (migrations.lineage) holds this
    code's head."""

    def __init__(self, engine: AsyncEngine, migrations_dir: Path, timeout: float) -> None:
        self.engine = engine
        script = _script(migrations_dir)
        self.heads = frozenset(script.get_heads())
        self.known = frozenset(revision.revision for revision in script.walk_revisions())
        self.timeout = timeout

    async def check(self) -> dict[str, str]:
        """Named check results; all "ok" when the service can serve."""
        try:
            async with asyncio.timeout(self.timeout), self.engine.connect() as connection:
                rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
                current = frozenset(rows.scalars())
                ahead = bool(current) and not current & self.known and await self._reached_our_heads(connection)
        except Exception as exc:  # any failure here means "not ready", with the cause logged
            log.warning("health_check_failed", error=type(exc).__name__)
            return {"database": "unavailable", "schema": "unknown"}
        return {"database": "ok", "schema": "ok" if current == self.heads or ahead else "behind"}

    async def _reached_our_heads(self, connection: AsyncConnection) -> bool:
        try:
            recorded = await connection.execute(
                text("SELECT revision FROM schema_history WHERE revision = ANY(:heads)"), {"heads": list(self.heads)}
            )
        except ProgrammingError:  # no lineage table: a schema from before it, not one of ours
            return False
        return frozenset(recorded.scalars()) == self.heads


router = APIRouter(include_in_schema=False)


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


async def _probe(request: Request) -> JSONResponse:
    checks = await service_state(request, ServiceState).health.check()
    if all(result == "ok" for result in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    return problem_response(503, "The service is not ready.", checks=checks)


router.add_api_route("/readyz", _probe, methods=["GET"])
router.add_api_route("/health", _probe, methods=["GET"])
