"""The operations every kind of owned row supports. Domains wrap them where
they add meaning (a bookmark's duplicate URL).

Every operation is one statement, or two: a write under `If-Match` first
reads the row's version, checks the ETag made of it, then writes only while
the row is still at that version - the row's own optimistic lock, so no
transaction needs to hold it in between (412 when it moved on). Rows come
back as the JSON PostgreSQL writes (see OwnedRepository._documents): no row
is loaded into Python objects and validated again on the way out.
"""

import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import BaseModel

from resource_service.owned.repository import AccountGone, OwnedRepository, Page
from resource_service.owned.schemas import ListQuery
from servicekit.errors import Conflict, NotFound, PreconditionFailed
from servicekit.etags import check_if_match, make_etag, names_tags


class QuotaReached(Conflict):
    def __init__(self, noun: str, limit: int) -> None:
        super().__init__(f"You already have {limit} {noun}s, as many as an account may keep; delete some first.")


async def create(
    repository: OwnedRepository, owner_id: uuid.UUID, values: Mapping[str, Any], quota: int, fields: tuple[str, ...]
) -> tuple[bytes, uuid.UUID, str]:
    """Add a row of `values` unless its owner already holds `quota` rows of
    its kind: the row as JSON (`fields` of it), its id and its ETag."""
    created = await repository.insert_json({"owner_id": owner_id, **values}, quota, fields)
    if created is None:
        raise QuotaReached(repository.noun, quota)
    body, row_id, version = created
    return body, row_id, make_etag(row_id, version)


async def list_json(
    repository: OwnedRepository, owner_id: uuid.UUID, query: ListQuery, fields: tuple[str, ...]
) -> Page:
    """A page of the owner's rows as a JSON array (`fields` of each), how
    many match in all and the next page's cursor; 401 when the owner's
    account is gone."""
    page = await repository.page_json(owner_id, query, fields)
    if page.total == 0 and not await repository.owner_exists(owner_id):
        raise AccountGone()
    return page


async def get_json(
    repository: OwnedRepository, owner_id: uuid.UUID, row_id: uuid.UUID, fields: tuple[str, ...]
) -> tuple[bytes, str]:
    """The owner's row as JSON (`fields` of it) and its ETag, or 404 (also
    for another user's row); 401 when the owner's account is gone."""
    found = await repository.get_json(owner_id, row_id, fields)
    if found is None:
        await _missing(repository, owner_id)
    body, version = found
    return body, make_etag(row_id, version)


async def update(
    repository: OwnedRepository,
    owner_id: uuid.UUID,
    row_id: uuid.UUID,
    patch: BaseModel,
    if_match: str | None,
    fields: tuple[str, ...],
) -> tuple[bytes, str]:
    """Apply the fields `patch` was sent with to the owner's row, under
    `If-Match`: the changed row as JSON and its new ETag; 404, 412 or 401
    otherwise."""
    version = await _version_matching(repository, owner_id, row_id, if_match)
    changed = await repository.update_json(owner_id, row_id, patch.model_dump(exclude_unset=True), version, fields)
    if changed is None:
        await _overtaken(repository, owner_id, version)
    body, new_version = changed
    return body, make_etag(row_id, new_version)


async def delete(repository: OwnedRepository, owner_id: uuid.UUID, row_id: uuid.UUID, if_match: str | None) -> None:
    """Delete the owner's row under `If-Match`; 404, 412 or 401 otherwise."""
    version = await _version_matching(repository, owner_id, row_id, if_match)
    if not await repository.delete(owner_id, row_id, version):
        await _overtaken(repository, owner_id, version)


async def _version_matching(
    repository: OwnedRepository, owner_id: uuid.UUID, row_id: uuid.UUID, if_match: str | None
) -> int | None:
    """The row's version whose ETag `If-Match` names (412 if it names
    another), or None when `If-Match` asks nothing (absent or `*`): then
    the write goes ahead whatever the version."""
    if not names_tags(if_match):
        return None
    version = await repository.version_of(owner_id, row_id)
    if version is None:
        await _missing(repository, owner_id)
    check_if_match(if_match, make_etag(row_id, version))
    return version


async def _overtaken(repository: OwnedRepository, owner_id: uuid.UUID, version: int | None) -> NoReturn:
    """A write found no row: under `If-Match`, the row moved on (or went)
    since its version was checked, a 412; otherwise it is missing."""
    if version is not None:
        raise PreconditionFailed()
    await _missing(repository, owner_id)


async def _missing(repository: OwnedRepository, owner_id: uuid.UUID) -> NoReturn:
    if not await repository.owner_exists(owner_id):
        raise AccountGone()
    raise NotFound(f"No {repository.noun} with this id.")
