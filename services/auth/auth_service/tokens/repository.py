from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.tokens.models import RefreshToken


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def get_for_update(self, token_hash: str) -> RefreshToken | None:
        """Locks the row so two concurrent rotations of one token serialise."""
        return await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        )
