"""What the routes of every kind of owned row share: the repository
dependency, the errors each route declares, the answers with the JSON
PostgreSQL wrote and their `ETag`, `Location` and paging headers, and the
bare collection path. The routes themselves are written out, one function
each, in `items/` and `bookmarks/`."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.routing import APIRoute

from resource_service.owned.repository import OwnedRepository, Page
from resource_service.owned.schemas import ListQuery, RowRead
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
Repository = TypeVar("Repository", bound=OwnedRepository)


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


def json_created(request: Request, route_name: str, body: bytes, row_id: uuid.UUID, etag: str) -> Response:
    """A 201 with the new row as PostgreSQL wrote it: `Location` names the
    route `route_name` for it, origin-relative (RFC 9110 §10.2.2) - never
    built from the client's Host header - and the `ETag`."""
    location = request.url_for(route_name, id=str(row_id)).path
    headers = {"Location": location, "ETag": etag}
    return Response(body, status_code=status.HTTP_201_CREATED, media_type="application/json", headers=headers)


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
