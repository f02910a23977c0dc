import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.sessions.models import UserSession


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, login: UserSession) -> UserSession:
        self.session.add(login)
        await self.session.flush()
        return login

    async def get_for_update(self, session_id: uuid.UUID) -> UserSession | None:
        """Locks the row: a rotation and a revocation of one login serialise."""
        return await self.session.scalar(select(UserSession).where(UserSession.id == session_id).with_for_update())

    async def list_active(self, user_id: uuid.UUID, now: datetime) -> Sequence[UserSession]:
        return (
            await self.session.scalars(
                select(UserSession)
                .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None), UserSession.expires_at > now)
                .order_by(UserSession.last_used_at.desc(), UserSession.id)
            )
        ).all()

    async def revoke(
        self, user_id: uuid.UUID, now: datetime, *, only: uuid.UUID | None = None, keep: uuid.UUID | None = None
    ) -> int:
        """Ends the user's active logins - `only` that one, or all but `keep`;
        how many were active."""
        statement = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        if only is not None:
            statement = statement.where(UserSession.id == only)
        if keep is not None:
            statement = statement.where(UserSession.id != keep)
        result = await self.session.execute(statement.values(revoked_at=now))
        return int(getattr(result, "rowcount", 0) or 0)
