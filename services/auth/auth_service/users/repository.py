import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.users.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_for_login(self, email: str, email_key: str | None) -> User | None:
        """The account whose stored address is exactly `email`, else the one
        whose comparison key is `email_key`. The exact address comes first:
        an account the identity migration re-keyed (a look-alike of an older
        one, or an address the rules now refuse) answers to it alone."""
        exact = User.email == email
        clause = exact if email_key is None else exact | (User.email_key == email_key)
        return await self.session.scalar(select(User).where(clause).order_by(exact.desc()).limit(1))

    async def taken(self, email_key: str, username_key: str | None) -> bool:
        clause = User.email_key == email_key
        if username_key is not None:
            clause = clause | (User.username_key == username_key)
        return await self.session.scalar(select(select(User.id).where(clause).exists())) or False

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        await self.session.refresh(user)
        return user

    async def delete(self, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(User).where(User.id == user_id))
