"""The five routes of a collection of owned rows, built once for every kind.

Each domain describes itself with an `OwnedResource` (its schemas, repository,
how a row is created and changed, its conflicts, a few words for the docs);
`owned_router` turns that into `POST /`, `GET /`, `GET|PATCH|DELETE /{id}`
with the same contract for all of them: 201 + `Location`, arrays with
`X-Total-Count` and `Link`, `ETag` on every row, `If-Match`, 404 for rows
that are not the caller's.
"""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from resource_service.deps import CurrentOwner, WriteLimit
from resource_service.owned import service
from resource_service.owned.deps import owned_row, repository_of
from resource_service.owned.models import OwnedMixin
from resource_service.owned.repository import OwnedRepository
from resource_service.owned.schemas import CreateSchema, ListQuery, RowRead, UpdateSchema
from servicekit.errors import AppError, NotFound, PreconditionFailed, TooManyRequests, Unauthorized, error_responses
from servicekit.etags import IfMatchHeader
from servicekit.pagination import set_page_headers

Create = Callable[[Any, uuid.UUID, Any], Awaitable[Any]]
Change = Callable[[Any, Any, Any, str | None], Awaitable[Any]]


@dataclass(frozen=True)
class OwnedResource:
    noun: str
    path: str
    repository: type[OwnedRepository[Any]]
    read: type[RowRead]
    create: type[CreateSchema]
    update: type[UpdateSchema]
    query: type[ListQuery]
    # (repository, owner id, validated body) -> the new row
    new_row: Create
    # (repository, row, validated patch, If-Match) -> the changed row
    change_row: Change = service.update
    # Errors the domain adds to creating and changing (documented in OpenAPI).
    conflicts: tuple[type[AppError], ...] = ()
    # Extra paragraphs for the docs, by route: "create", "list", "update".
    notes: Mapping[str, str] = field(default_factory=dict)


def owned_router(resource: OwnedResource) -> APIRouter:
    noun, read = resource.noun, resource.read
    router = APIRouter(prefix=resource.path, tags=[resource.path.strip("/")])
    Repository = Annotated[Any, Depends(repository_of(resource.repository))]
    OwnedRow = Annotated[Any, Depends(owned_row(resource.repository))]
    LockedRow = Annotated[Any, Depends(owned_row(resource.repository, for_update=True))]

    def doc(text: str, route: str) -> str:
        note = resource.notes.get(route)
        return f"{text}\n\n{note}" if note else text

    def one(response: Response, row: OwnedMixin) -> RowRead:
        response.headers["ETag"] = service.etag(row)
        return read.model_validate(row)

    async def create(
        data: resource.create, owner_id: CurrentOwner, repository: Repository, request: Request, response: Response
    ) -> Any:
        row = await resource.new_row(repository, owner_id, data)
        response.headers["Location"] = str(request.url_for(f"read_{noun}", id=str(row.id)))
        return one(response, row)

    async def list_rows(
        query: Annotated[resource.query, Query()],
        owner_id: CurrentOwner,
        repository: Repository,
        request: Request,
        response: Response,
    ) -> Any:
        rows, total = await service.list_page(repository, owner_id, query)
        set_page_headers(response, request.url, query, total)
        return [read.model_validate(row) for row in rows]

    async def read_row(row: OwnedRow, response: Response) -> Any:
        return one(response, row)

    async def update(
        row: LockedRow,
        patch: resource.update,
        repository: Repository,
        response: Response,
        if_match: IfMatchHeader = None,
    ) -> Any:
        return one(response, await resource.change_row(repository, row, patch, if_match))

    async def delete(row: LockedRow, repository: Repository, if_match: IfMatchHeader = None) -> Response:
        await service.delete(repository, row, if_match)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    created = error_responses(Unauthorized, TooManyRequests, *resource.conflicts)
    router.add_api_route(
        "/",
        create,
        methods=["POST"],
        name=f"create_{noun}",
        summary=f"Create a {noun}",
        status_code=status.HTTP_201_CREATED,
        response_model=read,
        responses=created,
        dependencies=[WriteLimit],
        description=doc(
            f"Create a {noun} owned by the caller. Answers 201 with the {noun}, its URL in `Location` "
            "and its `ETag`. `id`, `owner_id` and the timestamps are set by the server; sending them is a 422.",
            "create",
        ),
    )
    router.add_api_route(
        "/",
        list_rows,
        methods=["GET"],
        name=f"list_{noun}s",
        summary=f"List your {noun}s",
        response_model=list[read],
        responses=error_responses(Unauthorized),
        description=doc(
            f"The caller's {noun}s only, as a JSON array, newest first unless `sort` says otherwise. "
            '`X-Total-Count` holds how many match in all; `Link` (`rel="next"`) points to the next page '
            "while there is one.",
            "list",
        ),
    )
    router.add_api_route(
        "/{id}",
        read_row,
        methods=["GET"],
        name=f"read_{noun}",
        summary=f"Read a {noun}",
        response_model=read,
        responses=error_responses(Unauthorized, NotFound),
        description=f"One of the caller's {noun}s, with its `ETag`. Someone else's {noun} is a 404.",
    )
    router.add_api_route(
        "/{id}",
        update,
        methods=["PATCH"],
        name=f"update_{noun}",
        summary=f"Change a {noun}",
        response_model=read,
        dependencies=[WriteLimit],
        responses=error_responses(Unauthorized, NotFound, PreconditionFailed, TooManyRequests, *resource.conflicts),
        description=doc(
            "Partial update: only the fields sent change; a required field sent as `null` is a 422. "
            "Send the `ETag` you last saw as `If-Match` to change it only if nobody else has (412 otherwise). "
            "Answers with the changed row and its new `ETag`.",
            "update",
        ),
    )
    router.add_api_route(
        "/{id}",
        delete,
        methods=["DELETE"],
        name=f"delete_{noun}",
        summary=f"Delete a {noun}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=[WriteLimit],
        responses=error_responses(Unauthorized, NotFound, PreconditionFailed, TooManyRequests),
        description=f"Delete one of the caller's {noun}s. Honours `If-Match` like PATCH.",
    )
    # The gateway routes `/items` and `/bookmarks` as well as `/items/...`:
    # answer the bare collection path too, without a redirect.
    router.add_api_route(
        "",
        create,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=read,
        dependencies=[WriteLimit],
        include_in_schema=False,
    )
    router.add_api_route("", list_rows, methods=["GET"], response_model=list[read], include_in_schema=False)
    return router
