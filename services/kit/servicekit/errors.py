"""Typed errors rendered once, as RFC 9457 problem details.

Domain code raises `NotFound`, `Conflict`, ...; `install_error_handlers` turns
them, validation errors, routing errors and rate-limit rejections into
`application/problem+json` bodies that carry the request id.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from servicekit.context import REQUEST_ID_HEADER, current_request_id

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None
    error_count: int | None = None


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    request_id = current_request_id()
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": request_id,
        **extra,
    }
    all_headers = dict(headers or {})
    if request_id:
        all_headers.setdefault(REQUEST_ID_HEADER, request_id)
    return JSONResponse(body, status_code=status, headers=all_headers, media_type=PROBLEM_JSON)


class AppError(Exception):
    status: int = 500
    default_detail: str = "Internal server error."

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None, **extra: Any):
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(AppError):
    status = 400
    default_detail = "The request is malformed."


class Unauthorized(AppError):
    status = 401
    default_detail = "Could not validate credentials."

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(AppError):
    status = 403
    default_detail = "Not allowed."


class NotFound(AppError):
    status = 404
    default_detail = "Not found."


class Conflict(AppError):
    status = 409
    default_detail = "The resource already exists."


class PreconditionFailed(AppError):
    status = 412
    default_detail = "The resource has changed; fetch it again and retry with its current ETag."


class TooManyRequests(AppError):
    status = 429
    default_detail = "Too many requests; slow down."

    def __init__(self, retry_after: int):
        super().__init__(headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(AppError):
    status = 503
    default_detail = "Temporarily unavailable."


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route, so its OpenAPI lists the problems it can return."""
    return {
        error.status: {"model": Problem, "description": error.default_detail, "content": {PROBLEM_JSON: {}}}
        for error in errors
    }


# A 422 lists at most this many of the request's errors (and says how many
# there were): a body of 60 000 unknown members must not earn a 5 MB answer
# (OWASP API4:2023, unrestricted resource consumption).
MAX_LISTED_ERRORS = 10


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()[:MAX_LISTED_ERRORS]
    ]


# Starlette types every handler as taking an `Exception`; each is registered
# for one class only, which the assert states (and narrows the type to).
async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(exc.status, exc.detail, headers=exc.headers, **exc.extra)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    count = len(exc.errors())
    detail = "The request failed validation; see `errors`."
    if count > MAX_LISTED_ERRORS:
        detail = f"The request failed validation in {count} places; `errors` lists the first {MAX_LISTED_ERRORS}."
    return problem_response(422, detail, errors=_field_errors(exc), error_count=count)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # The router names the methods of the first route on this path only
        # (`PUT /items/{id}` said `Allow: GET`); RFC 9110 wants them all.
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route of `app` serves on `path` (HEAD with GET)."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        if context.methods and context.path and compile_path(context.path)[0].fullmatch(path):
            methods |= set(context.methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
