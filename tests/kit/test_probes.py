import httpx
from fastapi import FastAPI

from auth_service.main import create_app
from tests.helpers.apps import make_auth_settings


async def test_livez_readyz_health_when_all_is_well(auth_client: httpx.AsyncClient) -> None:
    assert (await auth_client.get("/livez")).json() == {"status": "ok"}
    for path in ("/readyz", "/health"):
        response = await auth_client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "schema": "ok"}}


async def test_unreachable_database_is_503_without_internals(database, signing_key_file) -> None:
    app: FastAPI = create_app(make_auth_settings(database, signing_key_file, db_port=1, health_timeout=1.0))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ready = await client.get("/readyz")
        live = await client.get("/livez")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["checks"] == {"database": "unavailable", "schema": "unknown"}
    assert "127.0.0.1" not in ready.text and "Connect" not in ready.text


async def test_schema_behind_head_is_not_ready(database, signing_key_file, tmp_path) -> None:
    # A code version whose migrations expect a newer head than the database has.
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "versions" / "future.py").write_text(
        "revision = 'ffffffffffff'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n"
    )
    app = create_app(make_auth_settings(database, signing_key_file, migrations_dir=migrations))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "schema": "behind"}
