from typing import Annotated

from fastapi import Depends

from resource_service.items.models import Item
from resource_service.items.repository import ItemRepository
from resource_service.owned import service as owned
from resource_service.owned.routing import RowId
from servicekit.auth import CurrentUserId
from servicekit.db import SessionDep


def _items(session: SessionDep) -> ItemRepository:
    return ItemRepository(session)


ItemsDep = Annotated[ItemRepository, Depends(_items)]


async def valid_item_id(item_id: RowId, owner_id: CurrentUserId, items: ItemsDep) -> Item:
    """The caller's item named by `{id}`: 404 when it is missing or someone else's."""
    return await owned.get(items, owner_id, item_id)


async def locked_item_id(item_id: RowId, owner_id: CurrentUserId, items: ItemsDep) -> Item:
    """The same, locked until the transaction ends, so an `If-Match` check
    stays true until the write."""
    return await owned.get(items, owner_id, item_id, for_update=True)


ItemDep = Annotated[Item, Depends(valid_item_id)]
LockedItem = Annotated[Item, Depends(locked_item_id)]
