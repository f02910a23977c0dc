"""The resource app in-process, verifying tokens the way it does in
production: with a RemoteJWKS that fetches the auth app's real JWKS (over an
ASGI transport instead of the network)."""

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from migrations.roles import RESOURCE_ROLE
from resource_service.config import ResourceSettings
from resource_service.main import create_app
from servicekit.tokens import RemoteJWKS
from tests.auth.conftest import Account, account, auth_app, auth_client, register_and_login
from tests.conftest import RESOURCE_DB_PASSWORD, Database

__all__ = ["Account", "account", "auth_app", "auth_client", "register_and_login"]

JWKS_URL = "http://auth.internal/.well-known/jwks.json"


def make_resource_settings(database: Database, **overrides: object) -> ResourceSettings:
    kwargs = {
        "environment": "test",
        "jwks_url": JWKS_URL,
        **database.settings_kwargs(RESOURCE_ROLE, RESOURCE_DB_PASSWORD),
    }
    return ResourceSettings(**{**kwargs, **overrides})


def jwks_from(app: FastAPI, **options: float) -> RemoteJWKS:
    """A RemoteJWKS fetching from `app` in-process."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return RemoteJWKS(JWKS_URL, client=client, **options)


@pytest.fixture(scope="session")
async def resource_app(database: Database, auth_app: FastAPI) -> AsyncIterator[FastAPI]:
    keys = jwks_from(auth_app)
    app = create_app(make_resource_settings(database), key_source=keys)
    async with app.router.lifespan_context(app):
        yield app
    await keys.aclose()


@pytest.fixture
async def client(resource_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    resource_app.state.limiter.reset()
    transport = httpx.ASGITransport(app=resource_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def other(auth_client: httpx.AsyncClient) -> Account:
    """A second user, for isolation tests."""
    return await register_and_login(auth_client)


@dataclass(frozen=True)
class Kind:
    """One kind of owned row, for the tests every kind must pass."""

    path: str
    new: Callable[[], dict[str, Any]]
    change: dict[str, Any]

    def __str__(self) -> str:
        return self.path.strip("/")


ITEMS = Kind("/items/", lambda: {"title": f"item {uuid.uuid4().hex[:8]}", "price": "9.99"}, {"title": "renamed"})
BOOKMARKS = Kind(
    "/bookmarks/",
    lambda: {"url": f"https://example.com/{uuid.uuid4().hex}", "title": f"page {uuid.uuid4().hex[:8]}", "tags": ["x"]},
    {"title": "renamed"},
)
KINDS = [ITEMS, BOOKMARKS]


@pytest.fixture(params=KINDS, ids=str)
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param


async def create(client: httpx.AsyncClient, account: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def list_ids(client: httpx.AsyncClient, account: Account, path: str, **params: Any) -> list[str]:
    response = await client.get(path, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]
