import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from pydantic_core import PydanticCustomError

from auth_service.users.identities import IdentityRefused, email_key, username_key
from servicekit.validation import Storable

MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 128


def _has_key(key: Callable[[str], str]) -> AfterValidator:
    """Only identities that have a comparison key (identities.py); a 422
    saying why otherwise."""

    def check(value: str) -> str:
        try:
            key(value)
        except IdentityRefused as exc:
            raise PydanticCustomError("identity_refused", "{reason}", {"reason": str(exc)}) from None
        return value

    return AfterValidator(check)


Email = Annotated[EmailStr, Field(max_length=MAX_EMAIL_LENGTH), AfterValidator(str.lower), _has_key(email_key)]


Password = Annotated[str, Field(min_length=8, max_length=MAX_PASSWORD_LENGTH), Storable]
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[\w.-]+$"),
    _has_key(username_key),
]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    username: Username | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str | None
    created_at: datetime
