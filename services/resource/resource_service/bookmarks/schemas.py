from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, HttpUrl, StringConstraints, TypeAdapter, ValidationError

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
from servicekit.validation import Storable

MAX_URL_LENGTH = 2048
_HTTP_URL = TypeAdapter(HttpUrl)


def _normalise_url(value: str) -> str:
    # The URL parser lower-cases the scheme and host (IDNs become punycode),
    # drops a default port and resolves dot segments; the fragment goes too:
    # it names a place in a page, not another page.
    try:
        url = _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None
    if url.username or url.password:
        # https://user:secret@host/ would keep a credential in the row.
        raise ValueError("must not contain a user name or password")
    text = str(url).partition("#")[0]
    if len(text) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters once normalised")
    return text


def _lower_stripped(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Url = Annotated[
    str,
    StringConstraints(max_length=MAX_URL_LENGTH),
    Storable,
    AfterValidator(_normalise_url),
    Field(json_schema_extra={"format": "uri"}, examples=["https://example.com/a/page"]),
]
# Lower-cased before the pattern applies: "Python" is the tag "python".
Tag = Annotated[
    str, BeforeValidator(_lower_stripped), StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9-]+$")
]


def _distinct(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tags = Annotated[
    list[Tag],
    Field(max_length=20, description="Up to 20 tags of 1-32 characters `a-z`, `0-9`, `-` (lower-cased)."),
    AfterValidator(_distinct),
]


class BookmarkCreate(CreateSchema):
    url: Url
    title: Title
    description: Description | None = None
    tags: Tags = []


class BookmarkUpdate(UpdateSchema):
    url: Url | None = None
    title: Title | None = None
    description: Description | None = None
    tags: Tags | None = None

    _required = not_null("url", "title", "tags")


class BookmarkRead(RowRead):
    url: str
    title: str
    description: str | None
    tags: list[str]


class BookmarkQuery(ListQuery):
    tag: list[Tag] = Field([], max_length=20, description="Only bookmarks with this tag; repeat it to require several.")
    sort: Literal["-created_at", "created_at", "title", "-title", "url", "-url"] = Field(
        "-created_at", description="Order: a column, with `-` for descending. Ties are broken by id."
    )
    sort_keys = {**ListQuery.sort_keys, "title": TEXT_KEY, "url": TEXT_KEY}
