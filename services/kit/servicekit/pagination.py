"""Offset pagination for list endpoints: the query parameters and the headers.

A list answers with a plain JSON array; the total and the next page travel in
headers (`X-Total-Count`, `Link: <...>; rel="next"`), so a client that only
wants the rows never unwraps an envelope.
"""

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
    link keeps every other query parameter (filters, sort) of `url`, and is
    origin-relative: never built from the client's Host header."""
    response.headers[TOTAL_COUNT_HEADER] = str(total)
    next_offset = page.offset + page.limit
    if next_offset < total:
        next_url = url.include_query_params(limit=page.limit, offset=next_offset)
        response.headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
