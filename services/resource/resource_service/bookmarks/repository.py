import uuid
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select

from resource_service.bookmarks.models import Bookmark
from resource_service.bookmarks.schemas import BookmarkQuery
from resource_service.owned.repository import OwnedRepository


class BookmarkRepository(OwnedRepository):
    model = Bookmark
    noun = "bookmark"
    search_columns = (Bookmark.title, Bookmark.url, Bookmark.description)

    def filters(self, query: BookmarkQuery) -> dict[str, Any]:  # type: ignore[override]
        return {"tags": query.tag} if query.tag else {}

    def filter_clause(self, name: str) -> ColumnElement[bool]:
        if name != "tags":
            raise KeyError(name)
        return Bookmark.tags.contains(bindparam("tags", type_=Bookmark.tags.type))

    async def id_for_url(self, owner_id: uuid.UUID, url: str) -> uuid.UUID | None:
        found: uuid.UUID | None = await self._scalar(
            select(Bookmark.id).where(Bookmark.owner_id == owner_id, Bookmark.url == url)
        )
        return found
