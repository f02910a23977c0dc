from typing import Any

from sqlalchemy import ColumnElement, bindparam

from resource_service.items.models import Item
from resource_service.items.schemas import ItemQuery
from resource_service.owned.repository import OwnedRepository


class ItemRepository(OwnedRepository):
    model = Item
    noun = "item"
    search_columns = (Item.title, Item.description)

    def filters(self, query: ItemQuery) -> dict[str, Any]:  # type: ignore[override]
        values = {"is_available": query.is_available, "min_price": query.min_price, "max_price": query.max_price}
        return {name: value for name, value in values.items() if value is not None}

    def filter_clause(self, name: str) -> ColumnElement[bool]:
        clauses = {
            "is_available": Item.is_available == bindparam("is_available"),
            "min_price": Item.price >= bindparam("min_price"),
            "max_price": Item.price <= bindparam("max_price"),
        }
        return clauses[name]
