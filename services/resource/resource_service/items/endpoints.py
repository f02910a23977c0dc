from resource_service.items import service
from resource_service.items.repository import ItemRepository
from resource_service.items.schemas import SCHEMAS
from resource_service.owned.endpoints import OwnedResource, owned_router

NOTES = {
    "create": '`price` is an exact decimal with at most two places, sent as a string ("12.5") or a number; '
    'it always comes back as a string with two places ("12.50").',
    "list": "Filters: `q` (text in the title or description, case-insensitive), `is_available`, `min_price`, "
    "`max_price`. `sort`: `-created_at` (default), `created_at`, `title`, `-title`, `price`, `-price`.",
}

router = owned_router(OwnedResource(ItemRepository, SCHEMAS, new_row=service.create, notes=NOTES))
