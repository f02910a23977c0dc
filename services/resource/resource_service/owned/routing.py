"""What the routes of every kind of owned row share: the `{id}` path
parameter, the `ETag` and `Location` headers, and the bare collection path."""

import uuid
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Request, Response
from fastapi.routing import APIRoute

from resource_service.owned import service
from resource_service.owned.models import OwnedMixin
from resource_service.owned.schemas import RowRead

RowId = Annotated[uuid.UUID, Path(alias="id", description="The row's id (a UUID).")]

Read = TypeVar("Read", bound=RowRead)


def with_etag(response: Response, row: OwnedMixin, schema: type[Read]) -> Read:
    """`row` as `schema`, with its `ETag` set on `response`."""
    response.headers["ETag"] = service.etag(row)
    return schema.model_validate(row)


def set_location(response: Response, request: Request, route_name: str, row: OwnedMixin) -> None:
    """`Location`: the URL of the route `route_name` for `row`."""
    # Origin-relative (RFC 9110 §10.2.2): never built from the client's Host header.
    response.headers["Location"] = request.url_for(route_name, id=str(row.id)).path


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
