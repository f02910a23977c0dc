"""The session check every token-accepting service makes: active logins
pass, ended ones fail, and an answer is trusted for `cache_seconds` - the
stated bound on how long a revoked login keeps working - and no longer;
while a worker listens for ended sessions, an ended one is refused at once
and the others are trusted longer."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import jwt
import pytest
from fastapi import FastAPI

from servicekit.db import connect_outside_the_pool
from servicekit.sessions import ActiveSessions, SessionEndedListener
from servicekit.settings import ServiceSettings
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


@asynccontextmanager
async def listening(settings: ServiceSettings, sessions: ActiveSessions, **options: Any) -> AsyncIterator[None]:
    """A SessionEndedListener for `sessions`, running until the block ends."""
    events = SessionEndedListener(partial(connect_outside_the_pool, settings, "test-listener"), sessions, **options)
    task = asyncio.create_task(events.run())
    try:
        await until(lambda: sessions.listening, "the listener listens")
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Callable[[], bool], what: str, within: float = 10) -> float:
    """Seconds until `condition` holds (fails past `within`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"{what}: not within {within} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def ended_within(sessions: ActiveSessions, db: Any, session_id: uuid.UUID, user_id: uuid.UUID) -> float:
    """Seconds until the check says the session ended."""
    started = time.monotonic()
    while await sessions.is_active(db, session_id, user_id):
        assert time.monotonic() - started < 5, "the ended session still passes"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.parametrize(
    "end",
    [
        "UPDATE sessions SET revoked_at = now() WHERE id = '{session}'",
        "UPDATE sessions SET expires_at = now() WHERE id = '{session}'",
        "DELETE FROM users WHERE id = '{user}'",  # the account, and its sessions with it
    ],
)
async def test_a_listening_worker_forgets_an_ended_session_at_once(
    auth_app: FastAPI, account: Account, database: Database, end: str
) -> None:
    session_id, user_id = session_of(account)
    sessions = ActiveSessions(5.0, listening_seconds=3600)
    # Each statement on its own, as in a request: now() is each check's own.
    async with listening(auth_app.state.settings, sessions), auth_app.state.autocommit() as db:
        assert await sessions.is_active(db, session_id, user_id)
        assert sessions._answers  # remembered, for up to an hour
        database.cluster.psql(end.format(session=session_id, user=user_id), database.name)
        took = await ended_within(sessions, db, session_id, user_id)
    print(f"ended session refused {took * 1000:.0f} ms after the commit")
    assert took < 1


async def test_a_lost_listening_connection_falls_back_to_the_short_cache_and_comes_back(
    auth_app: FastAPI, account: Account, database: Database
) -> None:
    session_id, user_id = session_of(account)
    sessions = ActiveSessions(5.0, listening_seconds=3600)
    settings = auth_app.state.settings
    async with listening(settings, sessions, retry_seconds=(0.1, 0.2)), auth_app.state.autocommit() as db:
        assert await sessions.is_active(db, session_id, user_id)
        database.cluster.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE application_name = '{settings.service_name}-test-listener'",
            database.name,
        )
        lost = await until(lambda: not sessions.listening, "the loss is noticed")
        assert not sessions._answers  # nothing remembered from before the loss
        back = await until(lambda: sessions.listening, "the listener is back")
        print(f"loss noticed after {lost * 1000:.0f} ms, listening again {back * 1000:.0f} ms later")
        # And it hears again: a revocation after the reconnection is heard.
        assert await sessions.is_active(db, session_id, user_id)
        database.cluster.psql(f"UPDATE sessions SET revoked_at = now() WHERE id = '{session_id}'", database.name)
        assert await ended_within(sessions, db, session_id, user_id) < 1


class Announcing:
    """A stand-in session whose lookup answers `remaining`, after `during`
    (an end announced while the lookup is in flight)."""

    def __init__(self, remaining: float | None, during: Callable[[], None] = lambda: None) -> None:
        self.remaining, self.during = remaining, during

    async def scalar(self, *_: Any) -> float | None:
        self.during()
        return self.remaining


async def test_an_answer_fetched_while_an_end_was_announced_is_not_kept() -> None:
    sessions = ActiveSessions(5.0, listening_seconds=3600)
    sessions.set_listening(True)
    session_id, user_id = uuid.uuid4(), uuid.uuid4()
    db = Announcing(100.0, during=lambda: sessions.ended(session_id))
    assert await sessions.is_active(db, session_id, user_id)  # type: ignore[arg-type]
    assert session_id not in sessions._answers


async def test_an_active_answer_never_outlives_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = ActiveSessions(5.0, listening_seconds=3600)
    sessions.set_listening(True)
    session_id, user_id = uuid.uuid4(), uuid.uuid4()
    assert await sessions.is_active(Announcing(2.0), session_id, user_id)  # type: ignore[arg-type]
    later = time.monotonic() + 2.1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert not await sessions.is_active(Announcing(None), session_id, user_id)  # type: ignore[arg-type]
