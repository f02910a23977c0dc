import httpx
from fastapi import FastAPI

from servicekit.app import create_service_app
from servicekit.settings import ServiceSettings
from servicekit.state import ServiceState
from servicekit.tokens import StaticKeys, TokenVerifier


async def test_unhandled_exceptions_become_a_500_without_internals() -> None:
    state = ServiceState(ServiceSettings(environment="test"), TokenVerifier(StaticKeys([]), issuer="t", audience="t"))
    app: FastAPI = create_service_app(state, title="t", description="d", docs_prefix="/t")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail: password=hunter2")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "boom-1"
    body = response.json()
    assert body["request_id"] == "boom-1"
    assert "hunter2" not in response.text and "Traceback" not in response.text
