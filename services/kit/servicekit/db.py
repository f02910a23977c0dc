"""Async SQLAlchemy engine and the request-scoped session.

The session dependency owns the transaction: it commits when the endpoint
returns and rolls back when it raises. Service code only flushes. Reads
(GET, HEAD) write nothing and run each statement on its own, with no
transaction around it; so do the writes of a service that declares every
write a single statement (`ServiceState.autocommit_writes`).

One exception, on purpose: replaying a refresh token (auth's
`tokens.service.rotate`) commits the revocation of the token's whole family
and then raises 401. The revocation must outlive the failing request, whose
transaction this dependency rolls back; that request has written nothing else.
"""

import functools
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Gauge, Histogram
from sqlalchemy import URL, MetaData, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from servicekit.breaker import BreakerOpen, CircuitBreaker
from servicekit.errors import problem_response
from servicekit.logs import get_logger
from servicekit.settings import ServiceSettings
from servicekit.state import ServiceState, service_state

log = get_logger(__name__)

# Deterministic constraint names, so migrations can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# One MetaData for the one shared database: each service maps only its own
# tables on it, the migration history sees them all.
metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata


# SQLSTATEs that domain code maps to typed errors.
FOREIGN_KEY_VIOLATION = "23503"
UNIQUE_VIOLATION = "23505"


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL error code behind a driver error: asyncpg's own
    (`sqlstate`), raised bare by a new connection or wrapped by SQLAlchemy
    (`orig`)."""
    return getattr(exc.orig if isinstance(exc, DBAPIError) else exc, "sqlstate", None)


def violated_constraint(exc: DBAPIError) -> str | None:
    """The name of the constraint an IntegrityError reports, if any."""
    driver_error = getattr(exc.orig, "driver_exception", None) or getattr(exc.orig, "__cause__", None)
    return getattr(driver_error, "constraint_name", None)


# SQLSTATE classes that mean "the database cannot serve now", not "this
# request is wrong": 08 connection exception, 53 insufficient resources,
# 57 operator intervention (57014 is a statement_timeout, 57P01 a shutdown).
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is away, overloaded or too slow (a
    503 the client may retry) rather than that the code is wrong (a 500).
    A new connection's errors come from the driver itself (asyncpg), the
    rest wrapped by SQLAlchemy."""
    if isinstance(exc, PoolTimeout | OSError | asyncpg.InterfaceError):  # pool exhausted; refused, reset, timed out
        return True
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or isinstance(exc, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError | asyncpg.PostgresError):  # too many connections, starting up, shutting down...
        return (sqlstate(exc) or "")[:2] in UNAVAILABLE_SQLSTATE_CLASSES
    return False


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    if not database_unavailable(exc):
        raise exc  # a real bug: the request middleware logs it and answers 500
    if isinstance(exc, BreakerOpen):  # known to be away: the breaker logged it once
        retry_after = max(1, math.ceil(exc.retry_after))
    else:
        retry_after = 1
        log.warning("database_unavailable", error=type(exc).__name__, sqlstate=sqlstate(exc))
    return problem_response(
        503, "The database is unavailable; try again shortly.", headers={"Retry-After": str(retry_after)}
    )


def install_database_error_handlers(app: FastAPI) -> None:
    for error in (SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(error, _database_error)


def database_url(settings: ServiceSettings) -> URL:
    return URL.create(
        "postgresql+asyncpg",
        username=settings.db_user,
        password=settings.db_password.get_secret_value() or None,
        host=settings.db_host,
        port=settings.db_port,
        database=settings.db_name,
    )


async def _connect(settings: ServiceSettings, application_name: str) -> asyncpg.Connection:
    url = database_url(settings)
    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        timeout=settings.db_connect_timeout,
        # The client's own deadline for a statement, beyond the server's
        # statement_timeout: a database that stopped answering (a network
        # partition, a frozen host) must not hold a request forever.
        command_timeout=settings.db_statement_timeout_ms / 1000 + settings.db_connect_timeout
        if settings.db_statement_timeout_ms
        else None,
        server_settings={
            "application_name": application_name,
            "statement_timeout": str(settings.db_statement_timeout_ms),
        },
    )


async def connect_outside_the_pool(settings: ServiceSettings, purpose: str) -> asyncpg.Connection:
    """A connection of its own, not from the pool, for work that holds one
    for long (LISTEN); named `<service>-<purpose>` in pg_stat_activity."""
    return await _connect(settings, f"{settings.service_name}-{purpose}")


def database_breaker(settings: ServiceSettings) -> CircuitBreaker:
    """The breaker on the pool's new connections (see create_engine); its
    probe, in the background, opens a connection and closes it."""

    async def probe() -> None:
        connection = await _connect(settings, f"{settings.service_name}-probe")
        await connection.close()

    return CircuitBreaker(
        "database",
        failures=settings.db_breaker_failures,
        open_seconds=settings.db_breaker_open_seconds,
        probe=probe,
    )


@dataclass(frozen=True)
class PoolMetrics:
    size: Gauge
    checked_out: Gauge
    overflow: Gauge
    acquire: Histogram


@functools.cache
def pool_metrics() -> PoolMetrics:
    """The pool's metrics, made with the first engine rather than at import:
    an unlabelled metric writes its sample file at once, and the migration
    job imports this module where no metrics folder exists."""
    return PoolMetrics(
        size=Gauge(
            "db_pool_size",
            "Connections the pools keep (DB_POOL_SIZE per worker), summed over workers.",
            multiprocess_mode="livesum",
        ),
        checked_out=Gauge("db_pool_checked_out", "Pooled connections in use now.", multiprocess_mode="livesum"),
        overflow=Gauge(
            "db_pool_overflow",
            "Connections open beyond the pools' size now (DB_MAX_OVERFLOW each at most).",
            multiprocess_mode="livesum",
        ),
        acquire=Histogram(
            "db_pool_acquire_seconds",
            "Time to get a connection from the pool: waiting for a free one, or opening a new one.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0),
        ),
    )


class MeasuredPool(AsyncAdaptedQueuePool):
    """The async engine's pool, timing each checkout (db_pool_acquire_seconds)."""

    def _do_get(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            pool_metrics().acquire.observe(time.perf_counter() - started)


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """A pooled connection the database closed (it restarted, or ended the
    session) is known closed without a round trip: the driver saw the socket
    close. Raising DisconnectionError at checkout makes the pool drop every
    connection older than this one and hand out a new connection (through the
    breaker), so the first request after a database restart succeeds instead
    of failing on a dead connection - and no request pays a ping."""

    def checkout(dbapi_connection: Any, *_: object) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the database closed this pooled connection")

    event.listen(engine.sync_engine.pool, "checkout", checkout)


def _measure_pool(engine: AsyncEngine, size: int, max_overflow: int) -> None:
    """The pool's gauges, set from the pool's own counts at each checkout and
    checkin (one engine per worker process; the gauges sum the workers). A
    pool that cannot overflow (the default) never has its overflow set again
    on the request path."""
    pool: Any = engine.sync_engine.pool  # a MeasuredPool: checkedout(), overflow()
    metrics = pool_metrics()
    metrics.size.set(size)
    metrics.overflow.set(0)

    def measure(in_use: int) -> None:
        metrics.checked_out.set(in_use)
        if max_overflow:
            metrics.overflow.set(max(0, pool.overflow()))

    # A checkin is announced before the connection is back in the pool.
    event.listen(pool, "checkout", lambda *_: measure(pool.checkedout()))
    event.listen(pool, "checkin", lambda *_: measure(pool.checkedout() - 1))


def create_engine(settings: ServiceSettings, breaker: CircuitBreaker | None = None) -> AsyncEngine:
    """The engine and its pool. Each new connection goes through `breaker`:
    once connecting has failed (`DB_BREAKER_FAILURES` times in a row), the
    pool is refused new connections at once for `DB_BREAKER_OPEN_SECONDS`
    and each request answers 503 in milliseconds instead of waiting out the
    connect timeout, while the breaker probes in the background (see
    database_breaker) until a connection succeeds and closes it.
    Connections already in the pool are not affected: a database that is up
    but refused one connection keeps serving on them."""
    breaker = breaker or database_breaker(settings)

    async def connect() -> asyncpg.Connection:
        async with breaker.call():
            return await _connect(settings, settings.service_name)

    engine = create_async_engine(
        database_url(settings),
        poolclass=MeasuredPool,
        async_creator=connect,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        # No ping per checkout (a round trip on every request): a connection
        # that died with the database fails its first statement instead, which
        # answers 503 and makes the pool drop every connection as old as it.
        pool_pre_ping=False,
        pool_recycle=1800,
        # Errors and tracebacks never carry row values (emails, hashes).
        hide_parameters=True,
    )
    _discard_closed_connections(engine)  # first: a dead connection is never counted as checked out
    _measure_pool(engine, settings.db_pool_size, settings.db_max_overflow)
    return engine


# Methods that read only. Their statements run each on its own (autocommit):
# a read is one statement (a page and its count are one), so a transaction
# around it would only add a BEGIN and a COMMIT round trip.
READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    state = service_state(request, ServiceState)
    autocommit = state.autocommit_writes or request.method in READ_METHODS
    sessions = state.autocommit if autocommit else state.sessionmaker
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            if not autocommit:  # an autocommit session's statements (flushes too) have each committed
                await session.commit()


# scope="function": commit before the response is sent, so a failed commit
# can never follow a success status.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
