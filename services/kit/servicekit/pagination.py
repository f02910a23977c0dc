"""Pagination for list endpoints: the query parameters, the cursors and the
headers.

A list answers with a plain JSON array; the total and the next page travel in
headers (`X-Total-Count`, `Link: <...>; rel="next"`), so a client that only
wants the rows never unwraps an envelope. A page starts at an `offset`, or at
a `cursor`: an opaque token naming the last row of the page before, which an
endpoint puts in `Link` so that following it costs the same on the ten
thousandth page as on the first, and skips or repeats no row when rows are
added before it.
"""

import base64
import json
from collections.abc import Sequence
from typing import Any, Self
from urllib.parse import urlencode

from fastapi import Response
from pydantic import BaseModel, Field, model_validator
from starlette.datastructures import URL

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Far beyond any real page, and well inside PostgreSQL's bigint OFFSET: a
# larger number is a 422, never a driver overflow.
MAX_OFFSET = 2**31 - 1

# Room for a sort key as long as the longest column a list sorts by (a URL).
MAX_CURSOR_LENGTH = 4096

TOTAL_COUNT_HEADER = "X-Total-Count"


class PageParams(BaseModel):
    """`limit`, and `offset` or `cursor`; list endpoints extend it with their
    filters and take it as `Annotated[TheirQuery, Query()]`."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="How many rows to return (1-100).")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many rows to skip (not with `cursor`).")
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="Start after the row this opaque token names: take it from a `Link` header's next page "
        "(with the same `sort`); not with `offset`.",
    )

    @model_validator(mode="after")
    def _one_start(self) -> Self:
        # Both would mean "skip n rows after the cursor": nobody needs it,
        # and refusing it keeps each page's meaning single.
        if self.cursor is not None and self.offset:
            raise ValueError("give `cursor` or `offset`, not both")
        return self


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor holding JSON `values`: base64url without padding,
    safe in a query string as it is."""
    text = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> list[Any]:
    """The values `encode_cursor` put in `cursor`; ValueError for anything
    else (what a client sends may be anything)."""
    try:
        data = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        values = json.loads(data)
    except (ValueError, RecursionError):  # binascii.Error, JSON and UTF-8 errors are ValueErrors
        raise ValueError("`cursor` is not one this API made") from None
    if not isinstance(values, list):
        raise ValueError("`cursor` is not one this API made")
    return values


def set_page_headers(
    response: Response, url: URL, page: PageParams, total: int, next_cursor: str | None = None
) -> None:
    """`X-Total-Count`, and a `Link` to the next page when there is one: at
    `next_cursor` when the endpoint made one, else at the next offset (for
    an offset page, while rows remain). The link carries the validated query
    (`page`: its filters and sort, as the endpoint understood them), never
    the rest of what the client sent - a thousand unknown parameters must not
    come back in a header - and is origin-relative: never built from the
    client's Host header."""
    response.headers[TOTAL_COUNT_HEADER] = str(total)
    start: dict[str, Any]
    if next_cursor is not None:
        start = {"cursor": next_cursor}
    elif page.cursor is None and page.offset + page.limit < total:
        start = {"offset": page.offset + page.limit}
    else:
        return
    query = page.model_dump(mode="json", exclude_defaults=True, exclude={"offset", "cursor"})
    params = {**query, "limit": page.limit, **start}
    pairs = [(name, _text(item)) for name, value in params.items() for item in _items(value)]
    response.headers["Link"] = f'<{url.path}?{urlencode(pairs)}>; rel="next"'


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
