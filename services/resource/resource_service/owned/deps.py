import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Path

from resource_service.deps import CurrentOwner
from resource_service.owned import service
from resource_service.owned.repository import OwnedRepository, Row
from servicekit.db import SessionDep

RowId = Annotated[uuid.UUID, Path(alias="id", description="The row's id (a UUID).")]


def repository_of(repository: type[OwnedRepository[Any]]) -> Callable[..., OwnedRepository[Any]]:
    """A dependency giving `repository` on the request's session."""

    def build(session: SessionDep) -> OwnedRepository[Any]:
        return repository(session)

    return build


def owned_row(repository: type[OwnedRepository[Row]], *, for_update: bool = False) -> Callable[..., Awaitable[Row]]:
    """A dependency loading the caller's row named by the `{id}` path
    parameter: 404 when it is missing or someone else's, locked for the rest
    of the transaction when `for_update`."""

    async def load(row_id: RowId, owner_id: CurrentOwner, session: SessionDep) -> Row:
        return await service.get(repository(session), owner_id, row_id, for_update=for_update)

    return load
