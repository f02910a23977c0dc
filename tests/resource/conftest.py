"""The resource app in-process, verifying tokens the way it does in
production: with a RemoteJWKS that fetches the auth app's real JWKS (over an
ASGI transport instead of the network)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers.apps import client_for, running_resource
from tests.helpers.database import Database
from tests.helpers.rows import KINDS, Kind


@pytest.fixture(scope="session")
async def resource_app(database: Database, auth_app: FastAPI) -> AsyncIterator[FastAPI]:
    async with running_resource(database, auth_app) as app:
        yield app


@pytest.fixture
async def client(resource_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(resource_app) as client:
        yield client


@pytest.fixture(params=KINDS, ids=str)
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param
