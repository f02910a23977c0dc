from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from resource_service.deps import RowQuota, WriteLimit
from resource_service.items.repository import ItemRepository
from resource_service.items.schemas import ItemCreate, ItemQuery, ItemRead, ItemUpdate
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

router = APIRouter(prefix="/items", tags=["items"])

Items = Annotated[ItemRepository, Depends(repository(ItemRepository))]
# Every route answers with JSON PostgreSQL writes (the bytes ItemRead would
# write; tests/resource/test_owned.py holds them equal).
ITEM_FIELDS = fields(ItemRead)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    dependencies=[WriteLimit],
    responses=errors(QuotaReached, write=True),
    summary="Create an item",
)
async def create_item(
    data: ItemCreate, owner_id: CurrentUserId, items: Items, quota: RowQuota, request: Request
) -> Response:
    """Create an item owned by the caller. Answers 201 with the item, its URL in `Location` and its `ETag`.
    `id`, `owner_id` and the timestamps are set by the server; sending them is a 422.

    `price` is an exact decimal with at most two places, sent as a string ("12.5") or a number; it always
    comes back as a string with two places ("12.50").

    An account keeps at most `MAX_ROWS_PER_USER` items (10 000 by default): past it, a 409.
    """
    body, item_id, etag = await owned.create(items, owner_id, data.model_dump(), quota, ITEM_FIELDS)
    return json_created(request, "read_item", body, item_id, etag)


@router.get("/", response_model=list[ItemRead], responses=errors(), summary="List your items")
async def list_items(
    query: Annotated[ItemQuery, Query()], owner_id: CurrentUserId, items: Items, request: Request
) -> Response:
    """The caller's items only, as a JSON array, newest first unless `sort` says otherwise. `X-Total-Count`
    holds how many match in all; `Link` (`rel="next"`) points to the next page while there is one, starting
    at a `cursor` (the last row of this page): following it lists every item once, even while items are
    added. `offset` works too; a `cursor` not from this list's `Link` in this `sort` is a 422.

    Filters: `q` (text in the title or description, case-insensitive), `is_available`, `min_price`,
    `max_price`. `sort`: `-created_at` (default), `created_at`, `title`, `-title`, `price`, `-price`.
    """
    return json_page(request, query, await owned.list_json(items, owner_id, query, ITEM_FIELDS))


@router.get("/{id}", response_model=ItemRead, responses=errors(row=True), summary="Read an item")
async def read_item(item_id: RowId, owner_id: CurrentUserId, items: Items) -> Response:
    """One of the caller's items, with its `ETag`. Someone else's item is a 404."""
    return json_row(*await owned.get_json(items, owner_id, item_id, ITEM_FIELDS))


@router.patch(
    "/{id}",
    response_model=ItemRead,
    dependencies=[WriteLimit],
    responses=errors(row=True, write=True),
    summary="Change an item",
)
async def update_item(
    item_id: RowId, patch: ItemUpdate, owner_id: CurrentUserId, items: Items, if_match: IfMatchHeader = None
) -> Response:
    """Partial update: only the fields sent change; a required field sent as `null` is a 422. Send the `ETag`
    you last saw as `If-Match` to change it only if nobody else has (412 otherwise). Answers with the changed
    row and its new `ETag`.
    """
    return json_row(*await owned.update(items, owner_id, item_id, patch, if_match, ITEM_FIELDS))


@router.delete(
    "/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[WriteLimit],
    responses=errors(row=True, write=True),
    summary="Delete an item",
)
async def delete_item(item_id: RowId, owner_id: CurrentUserId, items: Items, if_match: IfMatchHeader = None) -> None:
    """Delete one of the caller's items. Honours `If-Match` like PATCH."""
    await owned.delete(items, owner_id, item_id, if_match)


serve_bare_path(router)
