import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app
from migrations.roles import AUTH_ROLE
from tests.conftest import AUTH_DB_PASSWORD, Database

PASSWORD = "correct horse battery"


def make_auth_settings(database: Database, signing_key_file: Path, **overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "jwt_private_key_file": signing_key_file,
        **database.settings_kwargs(AUTH_ROLE, AUTH_DB_PASSWORD),
        **overrides,
    }
    return AuthSettings(**values)


@pytest.fixture(scope="session")
async def auth_app(database: Database, signing_key_file: Path) -> AsyncIterator[FastAPI]:
    app = create_app(make_auth_settings(database, signing_key_file))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def auth_client(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    auth_app.state.limiter.reset()  # each test starts with fresh rate-limit windows
    transport = httpx.ASGITransport(app=auth_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@dataclass
class Account:
    email: str
    password: str
    id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


async def register_and_login(client: httpx.AsyncClient) -> Account:
    email = unique_email()
    created = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    tokens = await login(client, email)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(email, PASSWORD, created.json()["id"], body["access_token"], body["refresh_token"])


@pytest.fixture
async def account(auth_client: httpx.AsyncClient) -> Account:
    return await register_and_login(auth_client)
