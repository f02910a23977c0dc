import uuid

from resource_service.items.models import Item
from resource_service.items.repository import ItemRepository
from resource_service.items.schemas import ItemCreate
from resource_service.owned import service as owned


async def create(items: ItemRepository, owner_id: uuid.UUID, data: ItemCreate, quota: int) -> Item:
    return await owned.create(items, Item(owner_id=owner_id, **data.model_dump()), quota)
