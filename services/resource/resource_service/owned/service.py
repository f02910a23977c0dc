"""The operations every kind of owned row supports. Domains wrap them where
they add meaning (a bookmark's duplicate URL)."""

import uuid
from typing import Any, NoReturn

from pydantic import BaseModel

from resource_service.owned.models import OwnedMixin
from resource_service.owned.repository import AccountGone, OwnedRepository, Page, Row
from resource_service.owned.schemas import ListQuery
from servicekit.errors import Conflict, NotFound
from servicekit.etags import check_if_match, make_etag


def etag(row: OwnedMixin) -> str:
    return make_etag(row.id, row.version)


class QuotaReached(Conflict):
    def __init__(self, noun: str, limit: int) -> None:
        super().__init__(f"You already have {limit} {noun}s, as many as an account may keep; delete some first.")


async def create(repository: OwnedRepository[Row], row: Row, quota: int) -> Row:
    """Add `row` unless its owner already holds `quota` rows of its kind (a
    burst of parallel creates may pass it by at most the burst, which the
    per-account write limit bounds)."""
    if await repository.count_owned(row.owner_id) >= quota:
        raise QuotaReached(repository.noun, quota)
    return await repository.add(row)


async def list_json(
    repository: OwnedRepository[Any], owner_id: uuid.UUID, query: ListQuery, fields: tuple[str, ...]
) -> Page:
    """A page of the owner's rows as a JSON array (`fields` of each), how
    many match in all and the next page's cursor; 401 when the owner's
    account is gone."""
    page = await repository.page_json(owner_id, query, fields)
    if page.total == 0 and not await repository.owner_exists(owner_id):
        raise AccountGone()
    return page


async def get_json(
    repository: OwnedRepository[Any], owner_id: uuid.UUID, row_id: uuid.UUID, fields: tuple[str, ...]
) -> tuple[bytes, str]:
    """The owner's row as JSON (`fields` of it) and its ETag, or 404 (also
    for another user's row); 401 when the owner's account is gone."""
    found = await repository.get_json(owner_id, row_id, fields)
    if found is None:
        await _missing(repository, owner_id)
    body, version = found
    return body, make_etag(row_id, version)


async def get_for_update(repository: OwnedRepository[Row], owner_id: uuid.UUID, row_id: uuid.UUID) -> Row:
    """The owner's row, locked, or 404 (also for another user's row); 401
    when the owner's account is gone."""
    row = await repository.get_for_update(owner_id, row_id)
    if row is None:
        await _missing(repository, owner_id)
    return row


async def _missing(repository: OwnedRepository[Any], owner_id: uuid.UUID) -> NoReturn:
    if not await repository.owner_exists(owner_id):
        raise AccountGone()
    raise NotFound(f"No {repository.noun} with this id.")


async def update(repository: OwnedRepository[Row], row: Row, patch: BaseModel, if_match: str | None) -> Row:
    check_if_match(if_match, etag(row))
    return await repository.update(row, patch.model_dump(exclude_unset=True))


async def delete(repository: OwnedRepository[Row], row: Row, if_match: str | None) -> None:
    check_if_match(if_match, etag(row))
    await repository.delete(row)
