"""The FastAPI application skeleton every service shares."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from functools import partial
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from servicekit import health, metrics, tracing
from servicekit.db import (
    connect_outside_the_pool,
    create_engine,
    database_breaker,
    install_database_error_handlers,
)
from servicekit.docs import install_docs
from servicekit.errors import install_error_handlers
from servicekit.logs import configure_logging, get_logger
from servicekit.middleware import HeadAsGet, RequestContextMiddleware
from servicekit.sessions import SessionEndedListener
from servicekit.state import ServiceState

log = get_logger(__name__)

ServiceLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    state: ServiceState,
    *,
    title: str,
    description: str,
    docs_prefix: str,
    version: str = "1.0.0",
    lifespan: ServiceLifespan | None = None,
) -> FastAPI:
    """An app with logging, the database, probes, metrics, errors and rate
    limiting wired around `state` (which becomes `app.state`); the service
    adds its routers and its own start-up work through `lifespan`."""
    settings = state.settings
    openapi_url = f"{docs_prefix}/openapi.json"
    configure_logging(settings.log_level, settings.log_format, settings.service_name)

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.record_build()
        state.database_breaker = database_breaker(settings)
        engine = create_engine(settings, state.database_breaker)
        if tracing.configured():
            tracing.start(settings.service_name, engine)
        state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        state.autocommit = async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))
        state.health = health.HealthProbe(engine, settings.migrations_dir, settings.health_timeout)
        listener = None
        if settings.session_cache_listening_seconds > 0:
            events = SessionEndedListener(partial(connect_outside_the_pool, settings, "sessions"), state.sessions)
            listener = asyncio.create_task(events.run(), name="session-events")
        try:
            async with lifespan(app) if lifespan else nullcontext():
                yield
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            await state.database_breaker.aclose()
            await engine.dispose()
            await state.limiter.aclose()
            tracing.stop()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=_lifespan,
        # FastAPI's own OpenTelemetry makes the request spans once
        # servicekit.tracing has set a tracer provider, and never sets one up
        # itself, whatever FASTAPI_OTEL_AUTO_CONFIGURE says.
        telemetry={"auto_configure": False, "exclude": tracing.untraced},
        openapi_url=openapi_url,
        # Swagger UI is ours (servicekit.docs): FastAPI's pages load it from a
        # CDN and start it with an inline script.
        docs_url=None,
        swagger_ui_oauth2_redirect_url=None,
        redoc_url=None,
        # No redirect to the slash form: Starlette builds it from the client's
        # Host, and a 307 makes clients re-send a password there (ASVS 3.7.2).
        redirect_slashes=False,
    )
    app.state = state
    install_error_handlers(app)
    install_database_error_handlers(app)
    # Inside the request context (added first, so it runs second): the
    # access log still says HEAD.
    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Under the service's own prefix: through the gateway a bare /docs (or
    # /docs/oauth2-redirect) would be claimed by both services.
    install_docs(app, prefix=docs_prefix, openapi_url=openapi_url)
    return app


def lazy_app(factory: Callable[[], FastAPI]) -> Callable[[str], Any]:
    """A module `__getattr__` serving `app` built on first access, so that
    gunicorn finds `<service>.main:app` while importing the module never
    reads the environment: `__getattr__ = lazy_app(create_app)`."""

    def __getattr__(name: str) -> Any:
        if name == "app":
            return factory()
        raise AttributeError(name)

    return __getattr__
