import uuid
from typing import Annotated

from fastapi import Depends, Request

from resource_service.config import ResourceSettings
from servicekit.auth import ClaimsDep
from servicekit.errors import Unauthorized


async def _owner_id(claims: ClaimsDep) -> uuid.UUID:
    # The token's subject is the user id: the account itself is looked up
    # only when a query comes back empty (see owned.service), never per request.
    try:
        return uuid.UUID(claims.subject)
    except ValueError:
        raise Unauthorized("The access token is invalid.") from None


async def _write_limit(request: Request, owner_id: Annotated[uuid.UUID, Depends(_owner_id)]) -> None:
    settings: ResourceSettings = request.app.state.settings
    request.app.state.limiter.check(settings.write_rate_limit, "write", str(owner_id))


CurrentOwner = Annotated[uuid.UUID, Depends(_owner_id)]
# For `dependencies=[...]` on the routes that write.
WriteLimit = Depends(_write_limit)
