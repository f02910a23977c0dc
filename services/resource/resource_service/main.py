from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from resource_service.bookmarks.endpoints import router as bookmarks_router
from resource_service.config import ResourceSettings
from resource_service.deps import ResourceState
from resource_service.items.endpoints import router as items_router
from servicekit import tracing
from servicekit.app import create_service_app, lazy_app
from servicekit.keys import load_public_keys
from servicekit.settings import ConfigurationError
from servicekit.tokens import KeySource, RemoteJWKS, StaticKeys, TokenVerifier

DESCRIPTION = """Each user's items and bookmarks.

Every route needs a bearer access token from the auth service: use
**Authorize** with your email and password. You only ever see your own rows;
anyone else's are a 404."""


def _key_source(settings: ResourceSettings) -> KeySource:
    if settings.jwks_url:
        return RemoteJWKS(
            settings.jwks_url,
            max_age=settings.jwks_cache_seconds,
            min_refetch_interval=settings.jwks_min_refetch_seconds,
        )
    assert settings.jwt_public_key_file is not None  # guaranteed by ResourceSettings
    try:
        return StaticKeys(load_public_keys(settings.jwt_public_key_file.read_bytes()))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"JWT_PUBLIC_KEY_FILE holds no usable public key: {exc}") from None


def create_app(settings: ResourceSettings | None = None, *, key_source: KeySource | None = None) -> FastAPI:
    """`key_source` replaces the keys the settings name (tests); whoever
    passes one closes it."""
    settings = settings or ResourceSettings()
    keys = key_source or _key_source(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(keys, RemoteJWKS):
            tracing.trace_client(keys.client)
            # Hold the keys before serving; if the auth service is not up yet,
            # the first request that needs them fetches them (and waits).
            await keys.refresh()
        try:
            yield
        finally:
            if key_source is None and isinstance(keys, RemoteJWKS):
                await keys.aclose()

    verifier = TokenVerifier.for_settings(keys, settings)
    app = create_service_app(
        ResourceState(settings, verifier),
        title="Resource service",
        description=DESCRIPTION,
        docs_prefix="/resource",
        lifespan=lifespan,
    )
    app.include_router(items_router)
    app.include_router(bookmarks_router)
    return app


# `resource_service.main:app` for gunicorn.
__getattr__ = lazy_app(create_app)
