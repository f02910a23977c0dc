"""Field types and schema bases shared by every kind of owned row."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from servicekit.pagination import MAX_CURSOR_LENGTH, PageParams, decode_cursor, encode_cursor
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


# How a sort column's value reads back from a cursor, by the column's type.
TIME_KEY: TypeAdapter[Any] = TypeAdapter(AwareDatetime)
TEXT_KEY: TypeAdapter[Any] = TypeAdapter(Annotated[str, StringConstraints(max_length=MAX_CURSOR_LENGTH), Storable])
_ROW_ID: TypeAdapter[uuid.UUID] = TypeAdapter(uuid.UUID)


def make_cursor(sort: str, key: Any, row_id: uuid.UUID) -> str:
    """The cursor of the page after the row with `row_id`, whose sort column
    holds `key`. It names its sort: read in another order it would skip rows.
    Timestamps keep their microseconds, decimals their digits (as text)."""
    value = key.isoformat() if isinstance(key, datetime) else str(key) if isinstance(key, Decimal) else key
    return encode_cursor([sort, value, str(row_id)])


def read_cursor(cursor: str, sort: str, key: TypeAdapter[Any]) -> tuple[Any, uuid.UUID]:
    """The sort key and row id `make_cursor` put in `cursor` for `sort`;
    ValueError (a 422 in a query) for a cursor made for another sort or not
    made by us."""
    values = decode_cursor(cursor)
    if len(values) != 3 or values[0] != sort:
        raise ValueError("`cursor` was not made for this list in this `sort`")
    try:
        return key.validate_python(values[1]), _ROW_ID.validate_python(values[2])
    except ValidationError:
        raise ValueError("`cursor` is not one this API made") from None


class ListQuery(PageParams):
    q: SearchText | None = Field(None, description="Case-insensitive text to look for.")
    # Each kind narrows this to the orders its indexes serve...
    sort: str = "-created_at"
    # ...and says how each sort column's value reads back from a cursor.
    sort_keys: ClassVar[dict[str, TypeAdapter[Any]]] = {"created_at": TIME_KEY}
    _after: tuple[Any, uuid.UUID] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _read_cursor(self) -> Self:
        if self.cursor is not None:
            self._after = read_cursor(self.cursor, self.sort, self.sort_keys[self.sort.removeprefix("-")])
        return self

    @property
    def after(self) -> tuple[Any, uuid.UUID] | None:
        """The sort key and id of the row this page starts after, when it
        starts at a cursor."""
        return self._after
