from typing import Annotated

from fastapi import Depends

from resource_service.bookmarks.models import Bookmark
from resource_service.bookmarks.repository import BookmarkRepository
from resource_service.owned import service as owned
from resource_service.owned.routing import RowId
from servicekit.auth import CurrentUserId
from servicekit.db import SessionDep


def _bookmarks(session: SessionDep) -> BookmarkRepository:
    return BookmarkRepository(session)


BookmarksDep = Annotated[BookmarkRepository, Depends(_bookmarks)]


async def valid_bookmark_id(bookmark_id: RowId, owner_id: CurrentUserId, bookmarks: BookmarksDep) -> Bookmark:
    """The caller's bookmark named by `{id}`: 404 when it is missing or someone else's."""
    return await owned.get(bookmarks, owner_id, bookmark_id)


async def locked_bookmark_id(bookmark_id: RowId, owner_id: CurrentUserId, bookmarks: BookmarksDep) -> Bookmark:
    """The same, locked until the transaction ends, so an `If-Match` check
    stays true until the write."""
    return await owned.get(bookmarks, owner_id, bookmark_id, for_update=True)


BookmarkDep = Annotated[Bookmark, Depends(valid_bookmark_id)]
LockedBookmark = Annotated[Bookmark, Depends(locked_bookmark_id)]
