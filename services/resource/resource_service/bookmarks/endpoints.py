from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from resource_service.bookmarks import service
from resource_service.bookmarks.repository import BookmarkRepository
from resource_service.bookmarks.schemas import BookmarkCreate, BookmarkQuery, BookmarkRead, BookmarkUpdate
from resource_service.bookmarks.service import BookmarkExists
from resource_service.deps import RowQuota, WriteLimit
from resource_service.owned import service as owned
from resource_service.owned.routing import (
    RowId,
    errors,
    fields,
    json_created,
    json_page,
    json_row,
    repository,
    serve_bare_path,
)
from resource_service.owned.service import QuotaReached
from servicekit.auth import CurrentUserId
from servicekit.etags import IfMatchHeader

router = APIRouter(prefix="/bookmarks", tags=["bookmarks"])

Bookmarks = Annotated[BookmarkRepository, Depends(repository(BookmarkRepository))]
# Every route answers with JSON PostgreSQL writes (the bytes BookmarkRead
# would write; tests/resource/test_owned.py holds them equal).
BOOKMARK_FIELDS = fields(BookmarkRead)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=BookmarkRead,
    dependencies=[WriteLimit],
    responses=errors(BookmarkExists, QuotaReached, write=True),
    summary="Create a bookmark",
)
async def create_bookmark(
    data: BookmarkCreate,
    owner_id: CurrentUserId,
    bookmarks: Bookmarks,
    quota: RowQuota,
    request: Request,
) -> Response:
    """Create a bookmark owned by the caller. Answers 201 with the bookmark, its URL in `Location` and its
    `ETag`. `id`, `owner_id` and the timestamps are set by the server; sending them is a 422.

    `url` must be http or https; it is stored normalised (scheme and host lower-cased, default port and
    `#fragment` dropped). Each URL once per user: bookmarking it again is a 409 whose body names the existing
    bookmark in `existing_id`. `tags` are lower-cased and de-duplicated.

    An account keeps at most `MAX_ROWS_PER_USER` bookmarks (10 000 by default): past it, a 409.
    """
    body, bookmark_id, etag = await service.create(bookmarks, owner_id, data, quota, BOOKMARK_FIELDS)
    return json_created(request, "read_bookmark", body, bookmark_id, etag)


@router.get("/", response_model=list[BookmarkRead], responses=errors(), summary="List your bookmarks")
async def list_bookmarks(
    query: Annotated[BookmarkQuery, Query()], owner_id: CurrentUserId, bookmarks: Bookmarks, request: Request
) -> Response:
    """The caller's bookmarks only, as a JSON array, newest first unless `sort` says otherwise.
    `X-Total-Count` holds how many match in all; `Link` (`rel="next"`) points to the next page while there
    is one, starting at a `cursor` (the last row of this page): following it lists every bookmark once, even
    while bookmarks are added. `offset` works too; a `cursor` not from this list's `Link` in this `sort` is a
    422.

    Filters: `q` (text in the title, URL or description, case-insensitive) and `tag` (repeat it to require
    several). `sort`: `-created_at` (default), `created_at`, `title`, `-title`, `url`, `-url`.
    """
    return json_page(request, query, await owned.list_json(bookmarks, owner_id, query, BOOKMARK_FIELDS))


@router.get("/{id}", response_model=BookmarkRead, responses=errors(row=True), summary="Read a bookmark")
async def read_bookmark(bookmark_id: RowId, owner_id: CurrentUserId, bookmarks: Bookmarks) -> Response:
    """One of the caller's bookmarks, with its `ETag`. Someone else's bookmark is a 404."""
    return json_row(*await owned.get_json(bookmarks, owner_id, bookmark_id, BOOKMARK_FIELDS))


@router.patch(
    "/{id}",
    response_model=BookmarkRead,
    dependencies=[WriteLimit],
    responses=errors(BookmarkExists, row=True, write=True),
    summary="Change a bookmark",
)
async def update_bookmark(
    bookmark_id: RowId,
    patch: BookmarkUpdate,
    owner_id: CurrentUserId,
    bookmarks: Bookmarks,
    if_match: IfMatchHeader = None,
) -> Response:
    """Partial update: only the fields sent change; a required field sent as `null` is a 422. Send the `ETag`
    you last saw as `If-Match` to change it only if nobody else has (412 otherwise). Answers with the changed
    row and its new `ETag`.

    Changing `url` to one you already bookmarked is a 409 naming that bookmark in `existing_id`.
    """
    return json_row(*await service.update(bookmarks, owner_id, bookmark_id, patch, if_match, BOOKMARK_FIELDS))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[WriteLimit],
    responses=errors(row=True, write=True),
    summary="Delete a bookmark",
)
async def delete_bookmark(
    bookmark_id: RowId, owner_id: CurrentUserId, bookmarks: Bookmarks, if_match: IfMatchHeader = None
) -> None:
    """Delete one of the caller's bookmarks. Honours `If-Match` like PATCH."""
    await owned.delete(bookmarks, owner_id, bookmark_id, if_match)


serve_bare_path(router)
