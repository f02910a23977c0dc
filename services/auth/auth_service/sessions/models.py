import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.db import Base


class UserSession(Base):
    """One login: what a password grant starts and every refresh token
    rotated from it continues (`refresh_tokens.family_id`). Access tokens
    name it in their `sid` claim, so revoking it ends them too (within the
    verifiers' cache time). It ends for good at `expires_at`, however often
    it is refreshed. The resource service may read whether it is active,
    nothing else of the account."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the client called itself at login, cut short: shown in the session list.
    user_agent: Mapped[str | None] = mapped_column(String(200))
