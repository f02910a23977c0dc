from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.deps import AuthState
from auth_service.keyring import Keyring
from auth_service.passwords import PasswordHasher
from auth_service.sessions.endpoints import router as sessions_router
from auth_service.tokens.endpoints import router as tokens_router
from auth_service.users.endpoints import router as users_router
from servicekit.app import create_service_app, lazy_app

DESCRIPTION = """Registers users and issues tokens.

Access tokens are JWTs signed with the key published at `/.well-known/jwks.json`;
use **Authorize** with your email and password to try the protected routes."""


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    state = AuthState(settings, Keyring(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.hasher = PasswordHasher(settings.password_hash_concurrency)
        yield

    app = create_service_app(
        state, title="Auth service", description=DESCRIPTION, docs_prefix="/auth", lifespan=lifespan
    )
    app.include_router(users_router)
    app.include_router(tokens_router)
    app.include_router(sessions_router)
    return app


# `auth_service.main:app` for gunicorn.
__getattr__ = lazy_app(create_app)
