import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from servicekit.validation import Storable

MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 128

Email = Annotated[EmailStr, Field(max_length=MAX_EMAIL_LENGTH), AfterValidator(str.lower)]


Password = Annotated[str, Field(min_length=8, max_length=MAX_PASSWORD_LENGTH), Storable]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[\w.-]+$")]


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
