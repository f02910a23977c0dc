"""What the routes of every kind of owned row share: the dependencies that
load the caller's row (404 otherwise), the errors each route declares, the
`ETag`, `Location` and paging headers, and the bare collection path. The
routes themselves are written out, one function each, in `items/` and
`bookmarks/`."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request, Response
from fastapi.routing import APIRoute

from resource_service.owned import service
from resource_service.owned.models import OwnedMixin
from resource_service.owned.repository import OwnedRepository, Page, Row
from resource_service.owned.schemas import ListQuery, RowRead
from servicekit.auth import CurrentUserId
from servicekit.db import SessionDep
from servicekit.errors import (
    AppError,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    error_responses,
)
from servicekit.pagination import set_page_headers

RowId = Annotated[uuid.UUID, Path(alias="id", description="The row's id (a UUID).")]
Repository = TypeVar("Repository", bound=OwnedRepository[Any])
Read = TypeVar("Read", bound=RowRead)


def errors(*domain: type[AppError], row: bool = False, write: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: every route may answer 401, and 503 while the
    auth service's keys cannot be fetched yet; a route on `/{id}` adds 404 (412
    when it writes: `If-Match`); writes are rate-limited per account (429)."""
    declared: list[type[AppError]] = [Unauthorized, ServiceUnavailable]
    declared += [NotFound] if row else []
    declared += [PreconditionFailed] if row and write else []
    declared += [*domain, TooManyRequests] if write else [*domain]
    return error_responses(*declared)


def repository(kind: type[Repository]) -> Callable[[SessionDep], Awaitable[Repository]]:
    """A dependency: the kind's repository on the request's session. (Every
    dependency is `async def`: FastAPI runs a plain `def` one in its thread
    pool, a hand-off per request for nothing.)"""

    async def on_session(session: SessionDep) -> Repository:
        return kind(session)

    return on_session


def caller_row(kind: type[OwnedRepository[Row]]) -> Callable[[uuid.UUID, uuid.UUID, SessionDep], Awaitable[Row]]:
    """A dependency for the routes that change a row: the caller's row named
    by `{id}`, 404 when it is missing or someone else's, locked until the
    transaction ends, so an `If-Match` check stays true until the write.
    (Reads never load a row: see `OwnedRepository.get_json`.)"""

    async def load(row_id: RowId, owner_id: CurrentUserId, session: SessionDep) -> Row:
        return await service.get_for_update(kind(session), owner_id, row_id)

    return load


def with_etag(response: Response, row: OwnedMixin, schema: type[Read]) -> Read:
    """`row` as `schema`, with its `ETag` set on `response`."""
    response.headers["ETag"] = service.etag(row)
    return schema.model_validate(row)


def created(request: Request, response: Response, route_name: str, row: OwnedMixin, schema: type[Read]) -> Read:
    """A 201's body and headers: `Location` names the route `route_name` for
    `row`, origin-relative (RFC 9110 §10.2.2) - never built from the client's
    Host header - and the `ETag`."""
    response.headers["Location"] = request.url_for(route_name, id=str(row.id)).path
    return with_etag(response, row, schema)


def json_page(request: Request, query: ListQuery, page: Page) -> Response:
    """A list as PostgreSQL wrote it (see OwnedRepository.page_json), with
    `X-Total-Count`, and `Link` built from the query and the next page's
    cursor."""
    response = Response(page.body, media_type="application/json")
    set_page_headers(response, request.url, query, page.total, page.next_cursor)
    return response


def json_row(body: bytes, etag: str) -> Response:
    """A row as PostgreSQL wrote it, with its `ETag`."""
    return Response(body, media_type="application/json", headers={"ETag": etag})


def fields(schema: type[RowRead]) -> tuple[str, ...]:
    """The fields a Read schema writes, in its order."""
    return tuple(schema.model_fields)


def serve_bare_path(router: APIRouter) -> None:
    """Answer the bare prefix (`/items`) exactly like the `/` routes
    (`/items/`), left out of the OpenAPI. The gateway routes both, and the
    bare path must answer rather than redirect. Call it after the routes."""
    for route in list(router.routes):
        if isinstance(route, APIRoute) and route.path == f"{router.prefix}/":
            router.add_api_route(
                "",
                route.endpoint,
                methods=route.methods,
                status_code=route.status_code,
                response_model=route.response_model,
                dependencies=route.dependencies,
                include_in_schema=False,
            )
