"""Whether the login an access token belongs to is still active.

The auth service keeps one row per login in `sessions` (its `sid` claim
names it); logout, "sign out everywhere", a password change and deleting the
account end it there. Every service that accepts tokens asks the same table,
so a revoked login stops working everywhere.

The answer is remembered per worker, which keeps the check off the hot path
(one primary-key lookup per login per worker per interval). How long depends
on whether the worker hears of ended sessions: the database announces each
one on the `session_ended` channel (a trigger on `sessions`, so no code path
that ends a session can forget to), and while a worker LISTENs there
(`SessionEndedListener`) it drops an ended session's answer at once and may
trust the others for `listening_seconds`. While it cannot listen - at start,
or its connection was lost - it trusts an answer for `cache_seconds` only:
the most a revoked login keeps working then. An active session's answer
never outlives the session's own end (`expires_at`).
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.caching import ExpiringCache
from servicekit.logs import get_logger

log = get_logger(__name__)

# The channel the database announces ended sessions on (the payload: the
# session's id); migration 0c9e4f6a1b38's trigger sends there.
SESSION_ENDED_CHANNEL = "session_ended"

# Seconds an active session has left, or no row: it is not active (revoked,
# past its absolute end, or not the token's subject's).
_REMAINING = text(
    "SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions"
    " WHERE id = :id AND user_id = :user_id AND revoked_at IS NULL AND expires_at > now()"
)


class ActiveSessions:
    def __init__(self, cache_seconds: float, *, listening_seconds: float = 0, max_entries: int = 10_000) -> None:
        self.cache_seconds = cache_seconds
        self.listening_seconds = listening_seconds
        self.listening = False
        # Bumped whenever answers may have gone stale: an answer fetched
        # across a bump is not kept (an end announced while it was in flight).
        self._generation = 0
        # session id -> (user id, active)
        self._answers: ExpiringCache[uuid.UUID, tuple[uuid.UUID, bool]] = ExpiringCache(max_entries)

    async def is_active(self, db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        cached = self._answers.get(session_id)
        if cached is not None and cached[0] == user_id:
            return cached[1]
        generation = self._generation
        remaining: float | None = await db.scalar(_REMAINING, {"id": session_id, "user_id": user_id})
        trusted_for = self.listening_seconds if self.listening else self.cache_seconds
        if remaining is not None:
            trusted_for = min(trusted_for, remaining)
        if generation == self._generation:
            self._answers.put(session_id, (user_id, remaining is not None), trusted_for)
        return remaining is not None

    def ended(self, session_id: uuid.UUID) -> None:
        """The database announced that this session ended."""
        self._generation += 1
        self._answers.pop(session_id)

    def set_listening(self, listening: bool) -> None:
        """Whether ended sessions are being heard of. Either way, what was
        remembered is forgotten: nothing ended while nobody listened may stay."""
        self.listening = listening
        self._generation += 1
        self._answers.clear()


# Connects to the database as the service's role (asyncpg, outside the pool).
Connect = Callable[[], Awaitable[Any]]


class SessionEndedListener:
    """One connection per worker that LISTENs for ended sessions and tells
    `sessions`; reconnects after a loss (with backoff), and checks the
    connection every `ping_seconds`, so a silent loss is noticed too."""

    def __init__(
        self,
        connect: Connect,
        sessions: ActiveSessions,
        *,
        ping_seconds: float = 10.0,
        retry_seconds: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.connect = connect
        self.sessions = sessions
        self.ping_seconds = ping_seconds
        self.retry_seconds = retry_seconds

    async def run(self) -> None:
        delay = self.retry_seconds[0]
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: the cache falls back, and we retry
                if self.sessions.listening:
                    log.warning("session_events_lost", error=type(exc).__name__)
            if self.sessions.listening:
                delay = self.retry_seconds[0]
            self.sessions.set_listening(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_seconds[1])

    async def _listen(self) -> None:
        connection = await self.connect()
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(SESSION_ENDED_CHANNEL, self._announced)
            self.sessions.set_listening(True)
            log.info("session_events_listening", channel=SESSION_ENDED_CHANNEL)
            while not lost.is_set():
                await asyncio.wait_for(connection.fetchval("SELECT 1"), timeout=self.ping_seconds)
                try:
                    await asyncio.wait_for(lost.wait(), timeout=self.ping_seconds)
                except TimeoutError:
                    pass
            raise ConnectionError("the listening connection closed")
        finally:
            connection.terminate()  # nothing to finish on a listening connection

    def _announced(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.sessions.ended(uuid.UUID(payload))
        except ValueError:
            log.warning("session_events_bad_payload")
