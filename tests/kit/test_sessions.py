"""The session check every token-accepting service makes: active logins
pass, ended ones fail, and an answer is trusted for `cache_seconds` - the
stated bound on how long a revoked login keeps working - and no longer."""

import time
import uuid

import jwt
from fastapi import FastAPI

from servicekit.sessions import ActiveSessions
from tests.helpers.accounts import Account
from tests.helpers.database import Database


def session_of(account: Account) -> tuple[uuid.UUID, uuid.UUID]:
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    return uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])


async def test_an_answer_is_trusted_for_the_cache_time_only(
    auth_app: FastAPI, account: Account, database: Database, monkeypatch
) -> None:
    session_id, user_id = session_of(account)
    cached, uncached = ActiveSessions(5.0), ActiveSessions(0)
    async with auth_app.state.sessionmaker() as db:
        assert await cached.is_active(db, session_id, user_id)
        database.cluster.psql(f"UPDATE sessions SET revoked_at = now() WHERE id = '{session_id}'", database.name)
        assert await cached.is_active(db, session_id, user_id)  # within the bound: still the cached answer
        assert not await uncached.is_active(db, session_id, user_id)
        later = time.monotonic() + 5.1
        monkeypatch.setattr(time, "monotonic", lambda: later)
        assert not await cached.is_active(db, session_id, user_id)


async def test_a_session_is_only_its_own_users(auth_app: FastAPI, account: Account, other: Account) -> None:
    session_id, _ = session_of(account)
    _, stranger = session_of(other)
    async with auth_app.state.sessionmaker() as db:
        assert not await ActiveSessions(0).is_active(db, session_id, stranger)
        assert not await ActiveSessions(0).is_active(db, uuid.uuid4(), stranger)


async def test_the_cache_is_bounded(auth_app: FastAPI, account: Account) -> None:
    sessions = ActiveSessions(60, max_entries=3)
    _, user_id = session_of(account)
    async with auth_app.state.sessionmaker() as db:
        for _ in range(10):
            await sessions.is_active(db, uuid.uuid4(), user_id)
    assert len(sessions._answers) == 3
