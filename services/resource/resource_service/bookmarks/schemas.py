from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, StringConstraints, UrlConstraints

from resource_service.owned.schemas import CreateSchema, Description, ListQuery, RowRead, Title, UpdateSchema, not_null

MAX_URL_LENGTH = 2048


def _normalise(url: HttpUrl) -> str:
    # The URL parser has already lower-cased the scheme and host (IDNs as
    # punycode), dropped a default port and resolved dot segments; the
    # fragment goes too: it names a place in a page, not another page.
    text = str(url).partition("#")[0]
    if len(text) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters once normalised")
    return text


# Validated as an http(s) URL, stored and returned as its normalised string.
Url = Annotated[
    HttpUrl,
    UrlConstraints(max_length=MAX_URL_LENGTH, allowed_schemes=["http", "https"]),
    AfterValidator(_normalise),
    Field(examples=["https://example.com/a/page"]),
]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32, pattern=r"^[a-z0-9-]+$")
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
