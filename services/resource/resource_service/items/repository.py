from sqlalchemy import ColumnElement

from resource_service.items.models import Item
from resource_service.items.schemas import ItemQuery
from resource_service.owned.repository import OwnedRepository


class ItemRepository(OwnedRepository[Item]):
    model = Item
    noun = "item"
    search_columns = (Item.title, Item.description)

    def filters(self, query: ItemQuery) -> list[ColumnElement[bool]]:  # type: ignore[override]
        clauses: list[ColumnElement[bool]] = []
        if query.is_available is not None:
            clauses.append(Item.is_available.is_(query.is_available))
        if query.min_price is not None:
            clauses.append(Item.price >= query.min_price)
        if query.max_price is not None:
            clauses.append(Item.price <= query.max_price)
        return clauses
