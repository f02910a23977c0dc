"""Field types and schema bases shared by every kind of owned row."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from servicekit.pagination import PageParams
from servicekit.validation import Readable, Storable

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Readable]
Description = Annotated[str, StringConstraints(max_length=2000), Readable]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]


def not_null(*fields: str) -> Any:
    """A validator for PATCH bodies: these fields may be left out, but an
    explicit `null` is a 422 (the column is required)."""

    def check(value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    return field_validator(*fields)(check)


class CreateSchema(BaseModel):
    # `id`, `owner_id` and timestamps are the server's: sending them is a 422.
    model_config = ConfigDict(extra="forbid")


class UpdateSchema(CreateSchema):
    """A partial update: only the fields sent are changed."""


class RowRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class ListQuery(PageParams):
    q: SearchText | None = Field(None, description="Case-insensitive text to look for.")
    # Each kind narrows this to the orders its indexes serve.
    sort: str = "-created_at"
