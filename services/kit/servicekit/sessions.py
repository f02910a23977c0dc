"""Whether the login an access token belongs to is still active.

The auth service keeps one row per login in `sessions` (its `sid` claim
names it); logout, "sign out everywhere", a password change and deleting the
account end it there. Every service that accepts tokens asks the same table,
so a revoked login stops working everywhere - within `cache_seconds`: the
answer is remembered per worker that long, which keeps the check off the
hot path (one primary-key lookup per login per worker per interval).
"""

import time
import uuid
from collections import OrderedDict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Active: not revoked, not past its absolute end, and the token's subject's.
_ACTIVE = text(
    "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = :id AND user_id = :user_id"
    " AND revoked_at IS NULL AND expires_at > now())"
)


class ActiveSessions:
    def __init__(self, cache_seconds: float, *, max_entries: int = 10_000) -> None:
        self.cache_seconds = cache_seconds
        self.max_entries = max_entries
        # (session id, user id) -> (active, monotonic time the answer expires)
        self._answers: OrderedDict[tuple[uuid.UUID, uuid.UUID], tuple[bool, float]] = OrderedDict()

    async def is_active(self, db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        key = (session_id, user_id)
        now = time.monotonic()
        cached = self._answers.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        active = bool(await db.scalar(_ACTIVE, {"id": session_id, "user_id": user_id}))
        if self.cache_seconds > 0:
            self._answers[key] = (active, now + self.cache_seconds)
            self._answers.move_to_end(key)
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
        return active
