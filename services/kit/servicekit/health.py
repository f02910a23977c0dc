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
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.errors import problem_response
from servicekit.logs import get_logger
from servicekit.state import ServiceState, service_state

log = get_logger(__name__)


def expected_heads(migrations_dir: Path) -> frozenset[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


class HealthProbe:
    def __init__(self, engine: AsyncEngine, migrations_dir: Path, timeout: float) -> None:
        self.engine = engine
        self.heads = expected_heads(migrations_dir)
        self.timeout = timeout

    async def check(self) -> dict[str, str]:
        """Named check results; all "ok" when the service can serve."""
        try:
            async with asyncio.timeout(self.timeout), self.engine.connect() as connection:
                rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
                current = frozenset(rows.scalars())
        except Exception as exc:  # any failure here means "not ready", with the cause logged
            log.warning("health_check_failed", error=type(exc).__name__)
            return {"database": "unavailable", "schema": "unknown"}
        return {"database": "ok", "schema": "ok" if current == self.heads else "behind"}


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
