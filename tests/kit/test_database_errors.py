"""The database being away, saturated or too slow is a 503 the client may
retry - never a 500, and never internals in the body."""

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from auth_service.main import create_app
from servicekit.db import SessionDep, create_engine, database_unavailable
from tests.helpers.accounts import PASSWORD, unique_email
from tests.helpers.apps import make_auth_settings


async def _register(app: FastAPI) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.post("/auth/register", json={"email": unique_email(), "password": PASSWORD})


def _assert_retryable_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["detail"] == "The database is unavailable; try again shortly."
    assert body["request_id"]
    assert "127.0.0.1" not in response.text and "asyncpg" not in response.text


async def test_unreachable_database_is_503(database, signing_key_file) -> None:
    app = create_app(make_auth_settings(database, signing_key_file, db_port=1))
    async with app.router.lifespan_context(app):
        _assert_retryable_503(await _register(app))


async def test_exhausted_pool_is_503(database, signing_key_file) -> None:
    settings = make_auth_settings(database, signing_key_file, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2)
    app = create_app(settings)
    async with app.router.lifespan_context(app), app.state.sessionmaker() as held:
        await held.execute(text("SELECT 1"))  # the pool's only connection, checked out
        _assert_retryable_503(await _register(app))


async def test_statement_timeout_is_503(database, signing_key_file) -> None:
    locker = create_engine(make_auth_settings(database, signing_key_file))
    app = create_app(make_auth_settings(database, signing_key_file, db_statement_timeout_ms=200))
    try:
        async with app.router.lifespan_context(app), locker.connect() as connection:
            await connection.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            # registration waits on the lock until statement_timeout cancels it
            response = await _register(app)
            await connection.rollback()
    finally:
        await locker.dispose()
    _assert_retryable_503(response)


async def test_other_database_errors_stay_500(auth_app: FastAPI) -> None:
    # A programming error is a bug to fix, not a reason to make clients retry.
    @auth_app.get("/_test/broken-sql")
    async def broken(session: SessionDep) -> None:
        await session.execute(text("SELECT no_such_column FROM users"))

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_app), base_url="http://t") as client:
            response = await client.get("/_test/broken-sql")
    finally:
        auth_app.router.routes.pop()
    assert response.status_code == 500
    assert "no_such_column" not in response.text


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (asyncpg.TooManyConnectionsError("too many"), True),  # 53300, while connecting
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),  # 57P03
        (asyncpg.ConnectionDoesNotExistError("closed in the middle of operation"), True),
        (ConnectionRefusedError(), True),
        (asyncpg.InvalidPasswordError("password authentication failed"), False),  # misconfigured: a 500 to fix
        (asyncpg.UndefinedColumnError("no such column"), False),
    ],
)
def test_a_new_connections_own_errors_are_classified_too(error: BaseException, unavailable: bool) -> None:
    # The pool's connections are made by servicekit.db.create_engine's creator:
    # their errors reach the handlers as the driver raised them, unwrapped.
    assert database_unavailable(error) is unavailable
