from typing import Annotated

from fastapi import Depends, Request

from resource_service.config import ResourceSettings
from servicekit.auth import CurrentUserId
from servicekit.state import ServiceState, request_limiter, service_state


class ResourceState(ServiceState):
    """`app.state` of the resource service: what every service keeps, with
    its own settings."""

    settings: ResourceSettings
    # Each write is one statement: an INSERT whose quota check is inside it,
    # or an UPDATE / DELETE conditional on the version whose ETag matched
    # `If-Match` (see owned.service).
    autocommit_writes = True


# Routes take the caller as `CurrentUserId`, the token's subject, trusted without
# a lookup: the account is checked only when a query comes back empty (see
# owned.service), never per request.
async def _write_limit(request: Request, owner_id: CurrentUserId) -> None:
    settings = service_state(request, ResourceState).settings
    await request_limiter(request).check(settings.write_rate_limit, "write", str(owner_id))


# For `dependencies=[...]` on the routes that write.
WriteLimit = Depends(_write_limit)


async def _row_quota(request: Request) -> int:
    return service_state(request, ResourceState).settings.max_rows_per_user


# How many rows of a kind an account may keep.
RowQuota = Annotated[int, Depends(_row_quota)]
