"""The five routes of a collection of owned rows, built once for every kind.

Each domain describes itself with an `OwnedResource` (its repository and
schemas, how a row is created and changed, its conflicts, a few words for
the docs); `owned_router` turns that into `POST /`, `GET /` and
`GET|PATCH|DELETE /{id}` with one contract for all of them: 201 + `Location`,
arrays with `X-Total-Count` and `Link`, an `ETag` on every row, `If-Match`,
and 404 for rows that are not the caller's.
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
from resource_service.owned.schemas import RowRead, RowSchemas
from servicekit.errors import (
    AppError,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    error_responses,
)
from servicekit.etags import IfMatchHeader
from servicekit.pagination import set_page_headers

# (repository, owner id, validated body) -> the new row
NewRow = Callable[[Any, uuid.UUID, Any], Awaitable[Any]]
# (repository, row, validated patch, If-Match) -> the changed row
ChangeRow = Callable[[Any, Any, Any, str | None], Awaitable[Any]]


@dataclass(frozen=True)
class OwnedResource:
    repository: type[OwnedRepository[Any]]
    schemas: RowSchemas
    new_row: NewRow
    change_row: ChangeRow = service.update
    # Errors the domain adds to creating and changing (documented in OpenAPI).
    conflicts: tuple[type[AppError], ...] = ()
    # Extra paragraphs for the docs, by route name: "create", "list", "update".
    notes: Mapping[str, str] = field(default_factory=dict)


def _docs(noun: str) -> dict[str, tuple[str, str]]:
    """(summary, description) of each route, for the API's users."""
    a_noun = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
    return {
        "create": (
            f"Create {a_noun}",
            f"Create {a_noun} owned by the caller. Answers 201 with the {noun}, its URL in `Location` and its "
            "`ETag`. `id`, `owner_id` and the timestamps are set by the server; sending them is a 422.",
        ),
        "list": (
            f"List your {noun}s",
            f"The caller's {noun}s only, as a JSON array, newest first unless `sort` says otherwise. "
            '`X-Total-Count` holds how many match in all; `Link` (`rel="next"`) points to the next page while '
            "there is one.",
        ),
        "read": (f"Read {a_noun}", f"One of the caller's {noun}s, with its `ETag`. Someone else's {noun} is a 404."),
        "update": (
            f"Change {a_noun}",
            "Partial update: only the fields sent change; a required field sent as `null` is a 422. Send the "
            "`ETag` you last saw as `If-Match` to change it only if nobody else has (412 otherwise). Answers "
            "with the changed row and its new `ETag`.",
        ),
        "delete": (f"Delete {a_noun}", f"Delete one of the caller's {noun}s. Honours `If-Match` like PATCH."),
    }


def owned_router(resource: OwnedResource) -> APIRouter:
    noun, (read, create_schema, update_schema, query_schema) = resource.repository.noun, resource.schemas
    router = APIRouter(prefix=f"/{noun}s", tags=[f"{noun}s"])
    Repository = Annotated[Any, Depends(repository_of(resource.repository))]
    OwnedRow = Annotated[Any, Depends(owned_row(resource.repository))]
    LockedRow = Annotated[Any, Depends(owned_row(resource.repository, for_update=True))]

    def one(response: Response, row: OwnedMixin) -> RowRead:
        response.headers["ETag"] = service.etag(row)
        return read.model_validate(row)

    async def create(
        data: create_schema, owner_id: CurrentOwner, repository: Repository, request: Request, response: Response
    ) -> Any:
        row = await resource.new_row(repository, owner_id, data)
        # Origin-relative (RFC 9110 §10.2.2): never built from the client's Host header.
        response.headers["Location"] = request.url_for(f"read_{noun}", id=str(row.id)).path
        return one(response, row)

    async def list_rows(
        query: Annotated[query_schema, Query()],
        owner_id: CurrentOwner,
        repository: Repository,
        request: Request,
        response: Response,
    ) -> Any:
        rows, total = await service.list_page(repository, owner_id, query)
        set_page_headers(response, request.url, query, total)
        return [read.model_validate(row) for row in rows]

    async def read_one(row: OwnedRow, response: Response) -> Any:
        return one(response, row)

    async def update(
        row: LockedRow, patch: update_schema, repository: Repository, response: Response, if_match: IfMatchHeader = None
    ) -> Any:
        return one(response, await resource.change_row(repository, row, patch, if_match))

    async def delete(row: LockedRow, repository: Repository, if_match: IfMatchHeader = None) -> Response:
        await service.delete(repository, row, if_match)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    docs = _docs(noun)

    def route(
        name: str, method: str, path: str, endpoint: Callable[..., Any], *errors: type[AppError], **options: Any
    ) -> None:
        summary, description = docs[name]
        if note := resource.notes.get(name):
            description = f"{description}\n\n{note}"
        if method != "GET":
            options["dependencies"] = [WriteLimit]
            errors += (TooManyRequests,)
        if method != "DELETE":
            options["response_model"] = list[read] if endpoint is list_rows else read
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=f"{name}_{noun}",
            summary=summary,
            description=description,
            # 503: the auth service's keys could not be fetched yet.
            responses=error_responses(Unauthorized, ServiceUnavailable, *errors),
            **options,
        )
        if path == "/":
            # The gateway routes the bare `/items` and `/bookmarks` too: answer
            # them as well, without a redirect.
            router.add_api_route("", endpoint, methods=[method], include_in_schema=False, **options)

    route("create", "POST", "/", create, *resource.conflicts, status_code=status.HTTP_201_CREATED)
    route("list", "GET", "/", list_rows)
    route("read", "GET", "/{id}", read_one, NotFound)
    route("update", "PATCH", "/{id}", update, NotFound, PreconditionFailed, *resource.conflicts)
    route("delete", "DELETE", "/{id}", delete, NotFound, PreconditionFailed, status_code=status.HTTP_204_NO_CONTENT)
    return router
