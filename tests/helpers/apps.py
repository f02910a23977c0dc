"""The two apps in-process: their settings against the test database, a
client per test, and the resource app's view of the auth app's JWKS (over
ASGI, not the network)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp

from auth_service.config import AuthSettings
from migrations.roles import AUTH_ROLE, RESOURCE_ROLE
from resource_service.config import ResourceSettings
from resource_service.main import create_app
from servicekit.tokens import RemoteJWKS
from tests.helpers.database import AUTH_DB_PASSWORD, RESOURCE_DB_PASSWORD, Database

JWKS_URL = "http://auth.internal/.well-known/jwks.json"


def make_auth_settings(database: Database, signing_key_file: Path, **overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "environment": "test",
        # Revocations take effect at once here; tests/kit/test_sessions.py
        # covers the cache and the listening.
        "session_cache_seconds": 0,
        "session_cache_listening_seconds": 0,
        "jwt_private_key_file": signing_key_file,
        **database.settings_kwargs(AUTH_ROLE, AUTH_DB_PASSWORD),
        **overrides,
    }
    return AuthSettings(**values)


def make_resource_settings(database: Database, **overrides: object) -> ResourceSettings:
    kwargs = {
        "environment": "test",
        "session_cache_seconds": 0,
        "session_cache_listening_seconds": 0,
        "jwks_url": JWKS_URL,
        **database.settings_kwargs(RESOURCE_ROLE, RESOURCE_DB_PASSWORD),
    }
    return ResourceSettings(**{**kwargs, **overrides})


def jwks_from(app: ASGIApp, **options: float) -> RemoteJWKS:
    """A RemoteJWKS fetching from `app` in-process."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return RemoteJWKS(JWKS_URL, client=client, **options)


@asynccontextmanager
async def client_for(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client for a running `app` from `address`, whose rate-limit windows
    start afresh: the apps live for the session, each test gets its own
    client."""
    await app.state.limiter.reset()
    async with client_for_without_reset(app, address) as client:
        yield client


def client_for_without_reset(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client for `app` from `address` in the rate-limit windows as they
    are: a second client of the same test."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@asynccontextmanager
async def running_resource(database: Database, auth_app: FastAPI) -> AsyncIterator[FastAPI]:
    """A resource app, started as a worker starts it, fetching the auth app's JWKS in-process."""
    keys = jwks_from(auth_app)
    app = create_app(make_resource_settings(database), key_source=keys)
    async with app.router.lifespan_context(app):
        yield app
    await keys.aclose()
