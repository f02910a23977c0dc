import uuid

from resource_service.bookmarks.models import UNIQUE_URL
from resource_service.bookmarks.repository import BookmarkRepository
from resource_service.bookmarks.schemas import BookmarkCreate, BookmarkUpdate
from resource_service.owned import service as owned
from resource_service.owned.repository import DuplicateKey
from servicekit.errors import Conflict


class BookmarkExists(Conflict):
    default_detail = "You have already bookmarked this URL; `existing_id` names that bookmark."

    def __init__(self, existing_id: uuid.UUID | None) -> None:
        super().__init__(existing_id=str(existing_id) if existing_id else None)


async def _already_bookmarked(
    bookmarks: BookmarkRepository, error: DuplicateKey, owner_id: uuid.UUID, url: str
) -> BookmarkExists:
    if error.constraint != UNIQUE_URL:
        raise error
    return BookmarkExists(await bookmarks.id_for_url(owner_id, url))


async def create(
    bookmarks: BookmarkRepository, owner_id: uuid.UUID, data: BookmarkCreate, quota: int, fields: tuple[str, ...]
) -> tuple[bytes, uuid.UUID, str]:
    try:
        return await owned.create(bookmarks, owner_id, data.model_dump(), quota, fields)
    except DuplicateKey as error:
        raise await _already_bookmarked(bookmarks, error, owner_id, data.url) from None


async def update(
    bookmarks: BookmarkRepository,
    owner_id: uuid.UUID,
    bookmark_id: uuid.UUID,
    patch: BookmarkUpdate,
    if_match: str | None,
    fields: tuple[str, ...],
) -> tuple[bytes, str]:
    try:
        return await owned.update(bookmarks, owner_id, bookmark_id, patch, if_match, fields)
    except DuplicateKey as error:
        assert patch.url is not None  # only a new URL can collide
        raise await _already_bookmarked(bookmarks, error, owner_id, patch.url) from None
