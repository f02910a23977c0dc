import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from auth_service.users.identities import MAX_EMAIL_KEY_LENGTH, MAX_USERNAME_KEY_LENGTH
from servicekit.db import Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # As typed, lower-cased: what the account shows. Accounts are told apart
    # by the keys below (identities.py), so look-alike spellings are one account.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str | None] = mapped_column(String(50), unique=True)
    # Nullable only while the release before these keys may still be serving
    # (it inserts no keys; login finds such an account by its exact email):
    # a later release fills the gaps and makes email_key NOT NULL.
    email_key: Mapped[str | None] = mapped_column(String(MAX_EMAIL_KEY_LENGTH), unique=True)
    username_key: Mapped[str | None] = mapped_column(String(MAX_USERNAME_KEY_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
