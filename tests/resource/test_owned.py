"""The contract every kind of owned row keeps (items and bookmarks alike):
isolation between users, ETags and If-Match, pagination, deleted accounts,
and no input that can produce a 500."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import event, select, text

from resource_service.bookmarks.models import Bookmark
from resource_service.bookmarks.schemas import BookmarkRead
from resource_service.items.models import Item
from resource_service.items.schemas import ItemRead
from resource_service.owned.schemas import RowRead
from servicekit.etags import make_etag
from tests.helpers.accounts import Account, register_and_login
from tests.helpers.database import Database
from tests.helpers.rows import Kind, create, list_ids


async def test_other_users_rows_are_404_on_every_route(
    client: httpx.AsyncClient, kind: Kind, account: Account, other: Account
) -> None:
    mine = await create(client, account, kind.path, kind.new())
    row_url = f"{kind.path}{mine['id']}"

    assert (await client.get(row_url, headers=other.headers)).status_code == 404
    assert (await client.patch(row_url, json=kind.change, headers=other.headers)).status_code == 404
    assert (await client.delete(row_url, headers=other.headers)).status_code == 404
    # 404 even with a matching If-Match: nothing about the row leaks.
    etag = (await client.get(row_url, headers=account.headers)).headers["etag"]
    assert (await client.delete(row_url, headers={**other.headers, "If-Match": etag})).status_code == 404

    listed = await client.get(kind.path, headers=other.headers)
    assert listed.status_code == 200
    assert listed.json() == []
    assert listed.headers["x-total-count"] == "0"

    untouched = await client.get(row_url, headers=account.headers)
    assert untouched.json() == mine


async def test_list_shows_only_own_rows(
    client: httpx.AsyncClient, kind: Kind, account: Account, other: Account
) -> None:
    mine = [await create(client, account, kind.path, kind.new()) for _ in range(3)]
    await create(client, other, kind.path, kind.new())
    listed = await client.get(kind.path, headers=account.headers)
    assert sorted(row["id"] for row in listed.json()) == sorted(row["id"] for row in mine)
    assert listed.headers["x-total-count"] == "3"


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    unknown = f"{kind.path}{uuid.uuid4()}"
    assert (await client.get(unknown, headers=account.headers)).status_code == 404
    assert (await client.patch(unknown, json=kind.change, headers=account.headers)).status_code == 404
    assert (await client.delete(unknown, headers=account.headers)).status_code == 404
    for junk in ("not-a-uuid", "1", "%00", "' OR 1=1 --", "0" * 300):
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(method, f"{kind.path}{junk}", json=kind.change, headers=account.headers)
            assert response.status_code == 422, (method, junk, response.text)


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
async def test_every_route_needs_a_token(client: httpx.AsyncClient, kind: Kind, method: str) -> None:
    path = kind.path if method in ("GET", "POST") else f"{kind.path}{uuid.uuid4()}"
    for headers in ({}, {"Authorization": "Bearer junk"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        response = await client.request(method, path, json=kind.new(), headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    single = await client.get(f"{kind.path}{uuid.uuid4()}")
    assert single.status_code == 401


async def test_collection_answers_with_and_without_slash(
    client: httpx.AsyncClient, kind: Kind, account: Account
) -> None:
    bare = kind.path.rstrip("/")
    created = await client.post(bare, json=kind.new(), headers=account.headers)
    assert created.status_code == 201
    for path in (bare, kind.path):
        listed = await client.get(path, headers=account.headers)
        assert listed.status_code == 200
        assert [row["id"] for row in listed.json()] == [created.json()["id"]]


async def row_and_etag(client: httpx.AsyncClient, account: Account, kind: Kind) -> tuple[str, str]:
    """A new row's URL and its ETag as GET gives it."""
    row = await create(client, account, kind.path, kind.new())
    url = f"{kind.path}{row['id']}"
    return url, (await client.get(url, headers=account.headers)).headers["etag"]


async def test_etag_changes_with_each_update(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    url, first = await row_and_etag(client, account, kind)
    assert (await client.get(url, headers=account.headers)).headers["etag"] == first

    patched = await client.patch(url, json=kind.change, headers={**account.headers, "If-Match": first})
    assert patched.status_code == 200
    second = patched.headers["etag"]
    assert second != first
    assert (await client.get(url, headers=account.headers)).headers["etag"] == second

    # An empty PATCH changes nothing, so neither does the ETag.
    unchanged = await client.patch(url, json={}, headers=account.headers)
    assert unchanged.headers["etag"] == second


async def test_a_patch_to_the_values_already_there_changes_nothing(
    client: httpx.AsyncClient, kind: Kind, account: Account
) -> None:
    created = await client.post(kind.path, json=kind.new(), headers=account.headers)
    url = f"{kind.path}{created.json()['id']}"
    same = {name: created.json()[name] for name in kind.new()}
    patched = await client.patch(url, json=same, headers={**account.headers, "If-Match": created.headers["etag"]})
    assert patched.status_code == 200
    assert patched.headers["etag"] == created.headers["etag"]
    assert patched.json() == created.json()  # updated_at too

    changed = await client.patch(url, json={**same, **kind.change}, headers=account.headers)
    assert changed.headers["etag"] != created.headers["etag"]
    assert changed.json()["updated_at"] > created.json()["updated_at"]


async def test_write_answers_are_the_bytes_a_read_answers(
    client: httpx.AsyncClient, kind: Kind, account: Account
) -> None:
    created = await client.post(kind.path, json=kind.new(), headers=account.headers)
    url = f"{kind.path}{created.json()['id']}"
    read = await client.get(url, headers=account.headers)
    assert (created.content, created.headers["etag"]) == (read.content, read.headers["etag"])
    assert created.headers["content-type"] == read.headers["content-type"] == "application/json"

    patched = await client.patch(url, json=kind.change, headers=account.headers)
    read = await client.get(url, headers=account.headers)
    assert (patched.content, patched.headers["etag"]) == (read.content, read.headers["etag"])


async def test_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, kind: Kind, account: Account
) -> None:
    url, stale = await row_and_etag(client, account, kind)
    assert (await client.patch(url, json=kind.change, headers=account.headers)).status_code == 200

    refused = await client.patch(url, json={"title": "lost update"}, headers={**account.headers, "If-Match": stale})
    assert refused.status_code == 412
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.delete(url, headers={**account.headers, "If-Match": stale})).status_code == 412
    current = await client.get(url, headers=account.headers)
    assert current.json()["title"] == kind.change["title"]


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ("*", True),
        ("{etag}", True),
        ('"nope", {etag}', True),
        ("W/{etag}", False),
        ('"nope"', False),
        ("garbage", False),
        ("", False),
    ],
)
async def test_if_match_forms(
    client: httpx.AsyncClient, kind: Kind, account: Account, header: str, matches: bool
) -> None:
    url, etag = await row_and_etag(client, account, kind)
    if_match = header.format(etag=etag)
    patched = await client.patch(url, json=kind.change, headers={**account.headers, "If-Match": if_match})
    assert patched.status_code == (200 if matches else 412)
    current_etag = (await client.get(url, headers=account.headers)).headers["etag"]
    if_match = header.format(etag=current_etag)
    deleted = await client.delete(url, headers={**account.headers, "If-Match": if_match})
    assert deleted.status_code == (204 if matches else 412)


async def test_concurrent_patches_with_one_etag_one_wins(
    client: httpx.AsyncClient, kind: Kind, account: Account
) -> None:
    url, etag = await row_and_etag(client, account, kind)
    headers = {**account.headers, "If-Match": etag}
    responses = await asyncio.gather(
        *(client.patch(url, json={"title": f"writer {n}"}, headers=headers) for n in range(4))
    )
    assert sorted(response.status_code for response in responses) == [200, 412, 412, 412]


# Three rows per kind, created in this order; each sort lists them by index.
SORT_ROWS = {
    "/items/": [{"title": "a", "price": "30"}, {"title": "b", "price": "10"}, {"title": "c", "price": "20"}],
    "/bookmarks/": [
        {"title": "3", "url": "https://m.example/"},
        {"title": "1", "url": "https://z.example/"},
        {"title": "2", "url": "https://a.example/"},
    ],
}


# For each sort, the order of those rows as their creation indices.
SORTS = {
    "/items/": {
        "-created_at": "210",
        "created_at": "012",
        "title": "012",
        "-title": "210",
        "price": "120",
        "-price": "021",
    },
    "/bookmarks/": {
        "-created_at": "210",
        "created_at": "012",
        "title": "120",
        "-title": "021",
        "url": "201",
        "-url": "102",
    },
}


@pytest.mark.parametrize(
    ("path", "sort", "expected"), [(p, s, e) for p, sorts in SORTS.items() for s, e in sorts.items()]
)
async def test_sorts(client: httpx.AsyncClient, account: Account, path: str, sort: str, expected: str) -> None:
    ids = [(await create(client, account, path, body))["id"] for body in SORT_ROWS[path]]
    assert await list_ids(client, account, path, sort=sort) == [ids[int(n)] for n in expected]


@pytest.mark.parametrize(("path", "sort"), [("/items/", "url"), ("/bookmarks/", "price"), ("/items/", "owner_id")])
async def test_sort_outside_the_kinds_whitelist_is_422(
    client: httpx.AsyncClient, account: Account, path: str, sort: str
) -> None:
    response = await client.get(path, params={"sort": sort}, headers=account.headers)
    assert response.status_code == 422


async def test_pagination_headers(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    ids = [(await create(client, account, kind.path, kind.new()))["id"] for _ in range(5)]
    newest_first = list(reversed(ids))

    first = await client.get(kind.path, params={"limit": 2}, headers=account.headers)
    assert [row["id"] for row in first.json()] == newest_first[:2]
    assert first.headers["x-total-count"] == "5"
    next_url = first.links["next"]["url"]
    # The next page starts at a cursor (after the last row), not an offset.
    assert "cursor" in httpx.URL(next_url).params and "offset" not in httpx.URL(next_url).params

    second = await client.get(next_url, headers=account.headers)
    assert [row["id"] for row in second.json()] == newest_first[2:4]
    last = await client.get(second.links["next"]["url"], headers=account.headers)
    assert [row["id"] for row in last.json()] == newest_first[4:]
    assert last.headers["x-total-count"] == "5"
    assert "link" not in last.headers

    beyond = await client.get(kind.path, params={"offset": 50}, headers=account.headers)
    assert beyond.status_code == 200
    assert beyond.json() == []
    assert beyond.headers["x-total-count"] == "5"
    far = await client.get(kind.path, params={"offset": 2**31 - 1, "limit": 100}, headers=account.headers)
    assert far.status_code == 200
    assert far.json() == []

    default = await client.get(kind.path, headers=account.headers)
    assert len(default.json()) == 5
    assert "link" not in default.headers


async def test_next_link_keeps_filters_and_sort(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    for _ in range(3):
        await create(client, account, kind.path, kind.new())
    response = await client.get(kind.path, params={"limit": 1, "sort": "title", "q": "e"}, headers=account.headers)
    params = httpx.URL(response.links["next"]["url"]).params
    assert (params["limit"], params["sort"], params["q"]) == ("1", "title", "e")
    assert params["cursor"] and "offset" not in params


async def test_limit_is_capped_at_100(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    assert (await client.get(kind.path, params={"limit": 100}, headers=account.headers)).status_code == 200
    assert (await client.get(kind.path, params={"limit": 101}, headers=account.headers)).status_code == 422


async def test_deleted_users_token_is_4xx_on_every_route(
    client: httpx.AsyncClient, auth_client: httpx.AsyncClient, kind: Kind, database: Database
) -> None:
    account = await register_and_login(auth_client)
    row = await create(client, account, kind.path, kind.new())
    assert (await auth_client.delete("/users/me", headers=account.headers)).status_code == 204

    # The rows went with the account (ON DELETE CASCADE) ...
    table = kind.path.strip("/")
    remaining = database.cluster.psql(f"SELECT count(*) FROM {table} WHERE owner_id = '{account.id}'", database.name)
    assert remaining.strip() == "0"
    # ... and the still-valid token gets a 401 everywhere, never a 500: its
    # session went with the account too.
    url = f"{kind.path}{row['id']}"
    responses = [
        await client.post(kind.path, json=kind.new(), headers=account.headers),
        await client.get(kind.path, headers=account.headers),
        await client.get(kind.path, params={"offset": 40}, headers=account.headers),
        await client.get(url, headers=account.headers),
        await client.patch(url, json=kind.change, headers=account.headers),
        await client.delete(url, headers=account.headers),
    ]
    for response in responses:
        assert response.status_code == 401, (response.request.method, response.request.url, response.text)
        assert response.json()["detail"] == "The session has ended; sign in again."


async def test_writes_are_rate_limited_per_account(
    client: httpx.AsyncClient,
    resource_app: FastAPI,
    kind: Kind,
    account: Account,
    other: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resource_app.state.settings, "write_rate_limit", "3/minute")
    statuses = [(await client.post(kind.path, json=kind.new(), headers=account.headers)).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert (await client.get(kind.path, headers=account.headers)).status_code == 200
    assert (await client.post(kind.path, json=kind.new(), headers=other.headers)).status_code == 201


@pytest.mark.parametrize(
    "query",
    ["q=%ED%A0%80", "q=%00", "q=%FF%FE", "limit=1e2", "offset=1.5", "limit=%00", "sort=", "q=" + "%25" * 200],
)
async def test_hostile_query_strings_never_500(
    client: httpx.AsyncClient, kind: Kind, account: Account, query: str
) -> None:
    response = await client.get(f"{kind.path}?{query}", headers=account.headers)
    assert response.status_code in (200, 422), response.text


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b"null", b'"text"', b"1e999999", b'{"title": {"$gt": ""}}', b"\xff\xfe", b"{" * 10_000],
)
async def test_hostile_bodies_never_500(
    client: httpx.AsyncClient, kind: Kind, account: Account, content: bytes
) -> None:
    headers = {**account.headers, "content-type": "application/json"}
    created = await client.post(kind.path, content=content, headers=headers)
    assert created.status_code in (400, 422), created.text
    row = await create(client, account, kind.path, kind.new())
    patched = await client.patch(f"{kind.path}{row['id']}", content=content, headers=headers)
    assert patched.status_code in (400, 422), patched.text


async def test_location_and_link_never_echo_the_host_header(
    client: httpx.AsyncClient, kind: Kind, account: Account
) -> None:
    evil = {**account.headers, "Host": "evil.example"}
    created = await client.post(kind.path, json=kind.new(), headers=evil)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{kind.path}{created.json()['id']}"
    await create(client, account, kind.path, kind.new())
    listed = await client.get(kind.path, params={"limit": 1}, headers=evil)
    assert listed.headers["link"].startswith(f"<{kind.path}?")
    assert "evil" not in created.headers["location"] + listed.headers["link"]


TRICKY: list[dict[str, Any]] = [
    {"title": 'quotes " and \\ backslash', "description": "tab\tand newline\nkept"},
    {"title": "ünïcödé — 日本語 😀", "description": None},
    {"title": "</script><b>&amp;", "description": "x" * 2000},
]


# path -> the Read schema, the model, and the schema of a page of them
SCHEMAS: dict[str, tuple[type[RowRead], Any, TypeAdapter[Any]]] = {
    "/items/": (ItemRead, Item, TypeAdapter(list[ItemRead])),
    "/bookmarks/": (BookmarkRead, Bookmark, TypeAdapter(list[BookmarkRead])),
}


async def test_the_json_postgresql_writes_is_the_bytes_the_schema_writes(
    client: httpx.AsyncClient, resource_app: FastAPI, kind: Kind, account: Account, database: Database
) -> None:
    """The list and read routes answer with JSON PostgreSQL builds
    (OwnedRepository.page_json, get_json); the bytes must be the ones the
    Read schema writes from the same rows: timestamps in UTC with `Z`, six
    digits of fraction or none, prices as strings with two places, nulls,
    escapes, non-ASCII text."""
    extras: dict[str, list[dict[str, Any]]] = {
        "/items/": [{"price": "12345678.5"}, {"price": None}, {"price": "0.1"}],
        "/bookmarks/": [{"tags": []}, {"tags": ["a", "b-c"]}, {"tags": ["z-9"]}],
    }
    extra = extras[kind.path]
    for fields, more in zip(TRICKY, extra, strict=True):
        await create(client, account, kind.path, {**kind.new(), **fields, **more})
    # A timestamp on a whole second has no fraction at all.
    table = kind.path.strip("/")
    database.cluster.psql(
        f"UPDATE {table} SET created_at = date_trunc('second', created_at) "
        f"WHERE id = (SELECT id FROM {table} WHERE owner_id = '{account.id}' LIMIT 1)",
        database.name,
    )
    listed = await client.get(kind.path, headers=account.headers)
    assert listed.status_code == 200 and listed.headers["content-type"] == "application/json"

    schema, model, page_of = SCHEMAS[kind.path]
    async with resource_app.state.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(model)
                .where(model.owner_id == uuid.UUID(account.id))
                .order_by(model.created_at.desc(), model.id.desc())
            )
        ).all()
    expected = page_of.dump_json([schema.model_validate(row) for row in rows])
    assert listed.content == expected
    for row in rows:
        one = await client.get(f"{kind.path}{row.id}", headers=account.headers)
        assert one.content == schema.model_validate(row).model_dump_json().encode()
        assert one.headers["etag"] == make_etag(row.id, row.version)


async def test_a_filtered_list_is_planned_for_its_values_and_the_connection_left_as_it_was(
    client: httpx.AsyncClient, resource_app: FastAPI, account: Account
) -> None:
    """After five runs PostgreSQL may keep a generic plan for a prepared
    statement; a search's best plan depends on its text (a trigram index for
    a rare word), so filtered lists are planned for their values each time
    (docs/benchmarks.md: 150 ms instead of 4 at a million rows) - and only
    those, and the setting never outlives the request on its connection."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = resource_app.state.autocommit.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await create(client, account, "/bookmarks/", {"url": "https://example.com/rare", "title": "a quokka"})
        statements.clear()
        assert len((await client.get("/bookmarks/", params={"q": "quokka"}, headers=account.headers)).json()) == 1
        searched = [s for s in statements if "plan_cache_mode" in s or "FROM bookmarks" in s]
        statements.clear()
        assert (await client.get("/bookmarks/", headers=account.headers)).status_code == 200
        listed = [s for s in statements if "plan_cache_mode" in s]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert searched[0] == "SET plan_cache_mode = force_custom_plan"
    assert searched[-1] == "RESET plan_cache_mode"
    assert len(searched) == 3  # the list itself in between
    assert listed == []  # an unfiltered list's plan never depends on values
    async with resource_app.state.autocommit() as session:
        assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
