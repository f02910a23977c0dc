"""Offset pagination for list endpoints: the query parameters and the headers.

A list answers with a plain JSON array; the total and the next page travel in
headers (`X-Total-Count`, `Link: <...>; rel="next"`), so a client that only
wants the rows never unwraps an envelope.
"""

from urllib.parse import urlencode

from fastapi import Response
from pydantic import BaseModel, Field
from starlette.datastructures import URL

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Far beyond any real page, and well inside PostgreSQL's bigint OFFSET: a
# larger number is a 422, never a driver overflow.
MAX_OFFSET = 2**31 - 1

TOTAL_COUNT_HEADER = "X-Total-Count"


class PageParams(BaseModel):
    """`limit` and `offset`; list endpoints extend it with their filters and
    take it as `Annotated[TheirQuery, Query()]`."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many rows to return (1-100).")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many rows to skip.")


def set_page_headers(response: Response, url: URL, page: PageParams, total: int) -> None:
    """`X-Total-Count`, and a `Link` to the next page when there is one. The
    link carries the validated query (`page`: its filters and sort, as the
    endpoint understood them), never the rest of what the client sent - a
    thousand unknown parameters must not come back in a header - and is
    origin-relative: never built from the client's Host header."""
    response.headers[TOTAL_COUNT_HEADER] = str(total)
    next_offset = page.offset + page.limit
    if next_offset < total:
        params = {**page.model_dump(mode="json", exclude_defaults=True), "limit": page.limit, "offset": next_offset}
        pairs = [(name, _text(item)) for name, value in params.items() for item in _items(value)]
        response.headers["Link"] = f'<{url.path}?{urlencode(pairs)}>; rel="next"'


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
