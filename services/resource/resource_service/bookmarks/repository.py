import uuid

from sqlalchemy import ColumnElement, select

from resource_service.bookmarks.models import Bookmark
from resource_service.bookmarks.schemas import BookmarkQuery
from resource_service.owned.repository import OwnedRepository


class BookmarkRepository(OwnedRepository[Bookmark]):
    model = Bookmark
    noun = "bookmark"
    search_columns = (Bookmark.title, Bookmark.url, Bookmark.description)

    def filters(self, query: BookmarkQuery) -> list[ColumnElement[bool]]:  # type: ignore[override]
        return [Bookmark.tags.contains(query.tag)] if query.tag else []

    async def id_for_url(self, owner_id: uuid.UUID, url: str) -> uuid.UUID | None:
        return await self.session.scalar(select(Bookmark.id).where(Bookmark.owner_id == owner_id, Bookmark.url == url))
