"""The floor for `make bench`: the physical limit of this stack for the
benchmarked routes - Starlette, raw asyncpg, PyJWT, orjson; no ORM, no
middleware, no dependency injection, no logging. It answers what the
resource service answers (a page and its total, one row, a create, a
conditional update) for a bearer token the auth service issued, and nothing
more: no rate limits, no session check, no problem+json. Not used by the
service.

    gunicorn -k uvicorn_worker.UvicornWorker -w 1 floor_app:app
    (env: DATABASE_URL as postgresql://..., JWKS_URL)
"""

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ISSUER, AUDIENCE = os.environ.get("JWT_ISSUER", "http://auth.local"), os.environ.get("JWT_AUDIENCE", "api")
BOOKMARK_COLUMNS = "id, owner_id, url, title, description, tags, created_at, updated_at, version"
ITEM_COLUMNS = "id, owner_id, title, description, price, is_available, created_at, updated_at, version"
_keys: dict[str, Any] = {}
_pool: asyncpg.Pool | None = None


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID type, which orjson does not know
        return str(value)
    raise TypeError


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = orjson.dumps(body, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    return Response(content, status, headers, media_type="application/json")


def _etag(row: asyncpg.Record) -> str:
    return '"' + hashlib.blake2b(f"{row['id']}\x1f{row['version']}".encode(), digest_size=12).hexdigest() + '"'


def _row(row: asyncpg.Record) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "version"}


def _owner(request: Request) -> uuid.UUID | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = header[7:]
    try:
        key = _keys[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        return None


def _pool_() -> asyncpg.Pool:
    assert _pool is not None
    return _pool


async def list_bookmarks(request: Request) -> Response:
    owner = _owner(request)
    if owner is None:
        return _json({"detail": "unauthorized"}, 401)
    limit = min(int(request.query_params.get("limit", 20)), 100)
    offset = int(request.query_params.get("offset", 0))
    async with _pool_().acquire() as db:
        rows = await db.fetch(
            f"SELECT {BOOKMARK_COLUMNS}, count(*) OVER () AS total FROM bookmarks WHERE owner_id = $1"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
            owner,
            limit,
            offset,
        )
    total = rows[0]["total"] if rows else 0
    body = [{k: v for k, v in row.items() if k not in ("version", "total")} for row in rows]
    return _json(body, headers={"X-Total-Count": str(total)})


async def create_bookmark(request: Request) -> Response:
    owner = _owner(request)
    if owner is None:
        return _json({"detail": "unauthorized"}, 401)
    data = orjson.loads(await request.body())
    async with _pool_().acquire() as db:
        row = await db.fetchrow(
            f"INSERT INTO bookmarks (id, owner_id, url, title, description, tags, version)"  # noqa: S608
            f" VALUES ($1, $2, $3, $4, $5, $6, 1) RETURNING {BOOKMARK_COLUMNS}",
            uuid.uuid4(),
            owner,
            data["url"],
            data["title"],
            data.get("description"),
            data.get("tags", []),
        )
    assert row is not None
    return _json(_row(row), 201, {"Location": f"/bookmarks/{row['id']}", "ETag": _etag(row)})


async def read_item(request: Request) -> Response:
    owner = _owner(request)
    if owner is None:
        return _json({"detail": "unauthorized"}, 401)
    async with _pool_().acquire() as db:
        row = await db.fetchrow(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1 AND owner_id = $2",  # noqa: S608
            uuid.UUID(request.path_params["id"]),
            owner,
        )
    if row is None:
        return _json({"detail": "not found"}, 404)
    return _json(_row(row), headers={"ETag": _etag(row)})


async def update_item(request: Request) -> Response:
    owner = _owner(request)
    if owner is None:
        return _json({"detail": "unauthorized"}, 401)
    data = orjson.loads(await request.body())
    item_id = uuid.UUID(request.path_params["id"])
    async with _pool_().acquire() as db, db.transaction():
        row = await db.fetchrow(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE id = $1 AND owner_id = $2 FOR UPDATE",  # noqa: S608
            item_id,
            owner,
        )
        if row is None:
            return _json({"detail": "not found"}, 404)
        if request.headers.get("if-match") not in (None, "*", _etag(row)):
            return _json({"detail": "precondition failed"}, 412)
        row = await db.fetchrow(
            f"UPDATE items SET title = coalesce($3, title), price = coalesce($4, price),"  # noqa: S608
            f" version = version + 1, updated_at = now() WHERE id = $1 AND owner_id = $2 RETURNING {ITEM_COLUMNS}",
            item_id,
            owner,
            data.get("title"),
            Decimal(data["price"]) if data.get("price") is not None else None,
        )
    assert row is not None
    return _json(_row(row), headers={"ETag": _etag(row)})


async def ready(request: Request) -> Response:
    return _json({"status": "ok"})


async def _load_keys() -> None:
    async with httpx.AsyncClient() as client:
        document = (await client.get(os.environ["JWKS_URL"])).raise_for_status().json()
    for entry in document["keys"]:
        _keys[entry["kid"]] = jwt.PyJWK(entry).key


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global _pool
    await _load_keys()
    _pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
    yield
    await _pool.close()


app = Starlette(
    routes=[
        Route("/bookmarks/", list_bookmarks, methods=["GET"]),
        Route("/bookmarks/", create_bookmark, methods=["POST"]),
        Route("/items/{id}", read_item, methods=["GET"]),
        Route("/items/{id}", update_item, methods=["PATCH"]),
        Route("/readyz", ready, methods=["GET"]),
    ],
    lifespan=lifespan,
)
