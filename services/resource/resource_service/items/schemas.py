import re
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, TypeAdapter

from resource_service.owned.schemas import (
    TEXT_KEY,
    CreateSchema,
    Description,
    ListQuery,
    RowRead,
    Title,
    UpdateSchema,
    not_null,
)

CENT = Decimal("0.01")


# Decimal() also takes any script's digits ("١٢" is 12), underscores
# ("1_000"), surrounding spaces and NaN: a price is ASCII digits with an
# optional sign, point and exponent, nothing Unicode could make look alike.
_ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _ascii_decimal(value: object) -> object:
    if isinstance(value, str) and not _ASCII_DECIMAL.fullmatch(value):
        raise ValueError("must be a decimal number written with ASCII digits, e.g. 12.50")
    return value


def _to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


# Exact decimals, never floats. In: a JSON string ("12.5") or number (12.5)
# with at most two decimal places. Out: always a string with exactly two
# ("12.50"), so no client parses money into a binary float by accident.
Money = Annotated[
    Decimal,
    BeforeValidator(_ascii_decimal),
    Field(max_digits=12, decimal_places=2),
    AfterValidator(_to_cents),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
]
Price = Annotated[Money, Field(gt=0, examples=["12.50"])]
PriceBound = Annotated[Money, Field(ge=0)]


class ItemCreate(CreateSchema):
    title: Title
    description: Description | None = None
    price: Price | None = None
    is_available: bool = True


class ItemUpdate(UpdateSchema):
    title: Title | None = None
    description: Description | None = None
    price: Price | None = None
    is_available: bool | None = None

    _required = not_null("title", "is_available")


class ItemRead(RowRead):
    owner_id: uuid.UUID = Field(description="The owner's user id.")
    title: str
    description: str | None
    price: Money | None = Field(description='An exact decimal as a string with two places, e.g. "12.50".')
    is_available: bool


class ItemQuery(ListQuery):
    is_available: bool | None = Field(None, description="Only items that are (or are not) available.")
    min_price: PriceBound | None = Field(None, description="Only items costing at least this much.")
    max_price: PriceBound | None = Field(None, description="Only items costing at most this much.")
    sort: Literal["-created_at", "created_at", "title", "-title", "price", "-price"] = Field(
        "-created_at",
        description="Order: a column, with `-` for descending. Ties are broken by id. Items without a price "
        "come last by `price` and first by `-price`.",
    )
    sort_keys = {**ListQuery.sort_keys, "title": TEXT_KEY, "price": TypeAdapter(Money | None)}
