from resource_service.bookmarks import service
from resource_service.bookmarks.repository import BookmarkRepository
from resource_service.bookmarks.schemas import SCHEMAS
from resource_service.owned.endpoints import OwnedResource, owned_router

NOTES = {
    "create": "`url` must be http or https; it is stored normalised (scheme and host lower-cased, default port "
    "and `#fragment` dropped). Each URL once per user: bookmarking it again is a 409 whose body names the "
    "existing bookmark in `existing_id`. `tags` are lower-cased and de-duplicated.",
    "update": "Changing `url` to one you already bookmarked is a 409 naming that bookmark in `existing_id`.",
    "list": "Filters: `q` (text in the title, URL or description, case-insensitive) and `tag` (repeat it to "
    "require several). `sort`: `-created_at` (default), `created_at`, `title`, `-title`, `url`, `-url`.",
}

router = owned_router(
    OwnedResource(
        BookmarkRepository,
        SCHEMAS,
        new_row=service.create,
        change_row=service.update,
        conflicts=(service.BookmarkExists,),
        notes=NOTES,
    )
)
