from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.keyring import Keyring
from auth_service.passwords import PasswordHasher
from auth_service.tokens.endpoints import router as tokens_router
from auth_service.users.endpoints import router as users_router
from servicekit.app import create_service_app

DESCRIPTION = """Registers users and issues tokens.

Access tokens are JWTs signed with the key published at `/.well-known/jwks.json`;
use **Authorize** with your email and password to try the protected routes."""


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    keyring = Keyring(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.hasher = PasswordHasher(settings.password_hash_concurrency)
        yield

    app = create_service_app(
        settings, title="Auth service", description=DESCRIPTION, docs_prefix="/auth", lifespan=lifespan
    )
    app.state.keyring = keyring
    app.state.token_verifier = keyring.verifier
    app.include_router(users_router)
    app.include_router(tokens_router)
    return app


def __getattr__(name: str) -> Any:
    # `auth_service.main:app` for gunicorn, built on first access so that
    # importing this module never reads the environment.
    if name == "app":
        return create_app()
    raise AttributeError(name)
