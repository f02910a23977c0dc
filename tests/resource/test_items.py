import json
import uuid
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from resource_service.main import create_app
from tests.helpers.accounts import Account, register_and_login
from tests.helpers.apps import client_for, jwks_from, make_resource_settings
from tests.helpers.database import Database
from tests.helpers.rows import create, list_ids


async def test_create_item_returns_201_location_and_etag(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post(
        "/items/", json={"title": "  Lamp ", "description": "bright", "price": "12.5"}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "owner_id", "title", "description", "price", "is_available", "created_at", "updated_at"}
    assert body["title"] == "Lamp"
    assert body["price"] == "12.50"
    assert body["is_available"] is True
    assert body["owner_id"] == account.id
    assert response.headers["location"] == f"/items/{body['id']}"
    assert response.headers["etag"].startswith('"')

    fetched = await client.get(response.headers["location"], headers=account.headers)
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert fetched.headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("12.5", "12.50"),
        (12.5, "12.50"),
        ("0.01", "0.01"),
        (3, "3.00"),
        ("1e3", "1000.00"),
        ("9999999999.99", "9999999999.99"),
        ("12.500", "12.50"),
        (None, None),
    ],
)
async def test_price_is_exact_and_always_two_places(
    client: httpx.AsyncClient, account: Account, sent: object, stored: str | None
) -> None:
    body = await create(client, account, "/items/", {"title": "priced", "price": sent})
    assert body["price"] == stored
    fetched = await client.get(f"/items/{body['id']}", headers=account.headers)
    assert fetched.json()["price"] == stored


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": None},
        {"title": 5},
        {"title": "ok", "description": "x" * 2001},
        {"title": "ok", "price": 0},
        {"title": "ok", "price": "-1.00"},
        {"title": "ok", "price": "1.001"},
        {"title": "ok", "price": "10000000000.00"},
        {"title": "ok", "price": "1e400"},
        {"title": "ok", "price": "NaN"},
        {"title": "ok", "price": "Infinity"},
        {"title": "ok", "price": "twelve"},
        # Decimal() reads these (Arabic-Indic, underscored, full-width, padded) as
        # numbers: a price is ASCII digits only.
        {"title": "ok", "price": "\u0661\u0662"},
        {"title": "ok", "price": "1_000"},
        {"title": "ok", "price": "\uff11\uff12"},
        {"title": "ok", "price": " 12 "},
        {"title": "ok", "is_available": "perhaps"},
        {"title": "ok", "id": str(uuid.uuid4())},
        {"title": "ok", "owner_id": str(uuid.uuid4())},
        {"title": "ok", "created_at": "2020-01-01T00:00:00Z"},
        {"title": "nul\x00byte"},
        {"title": "ok", "description": "nul\x00byte"},
    ],
)
async def test_invalid_items_are_422(client: httpx.AsyncClient, account: Account, body: dict) -> None:
    response = await client.post("/items/", json=body, headers=account.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


async def test_lone_surrogate_is_422(client: httpx.AsyncClient, account: Account) -> None:
    # Valid JSON, but not encodable text: must never reach the database.
    raw = b'{"title": "bad \\ud800 text"}'
    response = await client.post(
        "/items/", content=raw, headers={**account.headers, "content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_title_bounds_are_inclusive(client: httpx.AsyncClient, account: Account) -> None:
    body = await create(client, account, "/items/", {"title": "x" * 200, "description": "d" * 2000})
    assert len(body["title"]) == 200
    assert len(body["description"]) == 2000


async def test_patch_is_partial(client: httpx.AsyncClient, account: Account) -> None:
    item = await create(client, account, "/items/", {"title": "before", "description": "keep", "price": "5"})
    response = await client.patch(f"/items/{item['id']}", json={"title": "after"}, headers=account.headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["description"], body["price"]) == ("after", "keep", "5.00")
    assert body["updated_at"] >= item["updated_at"]
    assert body["created_at"] == item["created_at"]


async def test_patch_can_clear_optional_fields(client: httpx.AsyncClient, account: Account) -> None:
    item = await create(client, account, "/items/", {"title": "t", "description": "d", "price": "5"})
    response = await client.patch(
        f"/items/{item['id']}",
        json={"description": None, "price": None, "is_available": False},
        headers=account.headers,
    )
    assert response.status_code == 200
    assert (response.json()["description"], response.json()["price"], response.json()["is_available"]) == (
        None,
        None,
        False,
    )


@pytest.mark.parametrize(
    "patch",
    [
        {"title": None},
        {"is_available": None},
        {"title": ""},
        {"price": "0"},
        {"id": str(uuid.uuid4())},
        {"owner_id": str(uuid.uuid4())},
        {"unknown": 1},
    ],
)
async def test_invalid_patches_are_422(client: httpx.AsyncClient, account: Account, patch: dict) -> None:
    item = await create(client, account, "/items/", {"title": "t"})
    response = await client.patch(f"/items/{item['id']}", json=patch, headers=account.headers)
    assert response.status_code == 422, response.text
    unchanged = await client.get(f"/items/{item['id']}", headers=account.headers)
    assert unchanged.json() == item


async def test_delete_item(client: httpx.AsyncClient, account: Account) -> None:
    item = await create(client, account, "/items/", {"title": "t"})
    response = await client.delete(f"/items/{item['id']}", headers=account.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/items/{item['id']}", headers=account.headers)).status_code == 404
    assert (await client.delete(f"/items/{item['id']}", headers=account.headers)).status_code == 404


async def test_filters(client: httpx.AsyncClient, account: Account) -> None:
    cheap = await create(client, account, "/items/", {"title": "Cheap Mug", "price": "2.50"})
    dear = await create(client, account, "/items/", {"title": "Lamp", "description": "a DEAR mug", "price": "99"})
    gone = await create(client, account, "/items/", {"title": "Chair", "price": "40", "is_available": False})
    free = await create(client, account, "/items/", {"title": "Leaflet"})

    assert set(await list_ids(client, account, "/items/", q="mug")) == {cheap["id"], dear["id"]}
    assert await list_ids(client, account, "/items/", q="DEAR") == [dear["id"]]
    assert set(await list_ids(client, account, "/items/", is_available="true")) == {cheap["id"], dear["id"], free["id"]}
    assert await list_ids(client, account, "/items/", is_available="false") == [gone["id"]]
    assert set(await list_ids(client, account, "/items/", min_price="40")) == {dear["id"], gone["id"]}
    assert set(await list_ids(client, account, "/items/", max_price="40.00")) == {cheap["id"], gone["id"]}
    assert await list_ids(client, account, "/items/", min_price="3", max_price="50", is_available="false") == [
        gone["id"]
    ]
    assert await list_ids(client, account, "/items/", min_price="100") == []


async def test_search_treats_wildcards_literally(client: httpx.AsyncClient, account: Account) -> None:
    percent = await create(client, account, "/items/", {"title": "100% cotton"})
    underscore = await create(client, account, "/items/", {"title": "snake_case"})
    backslash = await create(client, account, "/items/", {"title": "back\\slash"})
    await create(client, account, "/items/", {"title": "100 percent wool"})
    await create(client, account, "/items/", {"title": "snakeXcase"})

    assert await list_ids(client, account, "/items/", q="0%") == [percent["id"]]
    assert await list_ids(client, account, "/items/", q="e_c") == [underscore["id"]]
    assert await list_ids(client, account, "/items/", q="k\\s") == [backslash["id"]]
    assert await list_ids(client, account, "/items/", q="%") == [percent["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "-password_hash"},
        {"sort": "title;drop"},
        {"limit": 0},
        {"limit": "x"},
        {"offset": -1},
        {"offset": 2**31},
        {"offset": 10**30},
        {"is_available": "maybe"},
        {"min_price": "-1"},
        {"min_price": "abc"},
        {"min_price": "\u0661\u0662"},
        {"max_price": "1_000"},
        {"max_price": "1e999"},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "nul\x00"},
    ],
)
async def test_invalid_list_parameters_are_422(client: httpx.AsyncClient, account: Account, params: dict) -> None:
    response = await client.get("/items/", params=params, headers=account.headers)
    assert response.status_code == 422, response.text


async def test_price_bounds_and_total_in_decimal(client: httpx.AsyncClient, account: Account) -> None:
    item = await create(client, account, "/items/", {"title": "penny", "price": "0.01"})
    assert Decimal(item["price"]) == Decimal("0.01")
    assert await list_ids(client, account, "/items/", min_price="0.01", max_price="0.01") == [item["id"]]
    assert await list_ids(client, account, "/items/", min_price="0.02") == []


async def test_a_body_of_many_unknown_members_gets_a_short_422(client: httpx.AsyncClient, account: Account) -> None:
    """OWASP API4:2023: 60 000 unknown members once earned a 5.4 MB answer
    listing every one. The answer lists a few and counts the rest, and
    nothing is written."""
    members = {f"k{n}": 0 for n in range(60_000)}
    body = json.dumps({**members, "title": "x"}).encode()
    response = await client.post(
        "/items/", content=body, headers={**account.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["error_count"] == 60_000
    assert len(problem["errors"]) == 10
    assert len(response.content) < 4096 < len(body) // 100
    assert (await client.get("/items/", headers=account.headers)).json() == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/items/00000000-0000-0000-0000-000000000000", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/items/", "GET, HEAD, POST"),
        ("POST", "/livez", "GET, HEAD"),
    ],
)
async def test_405_names_every_method_the_path_serves(
    client: httpx.AsyncClient, account: Account, method: str, path: str, allow: str
) -> None:
    """RFC 9110 §15.5.6: `PUT /items/{id}` once said `Allow: GET`."""
    response = await client.request(method, path, headers=account.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_account_keeps_at_most_its_quota_of_rows(
    database: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient
) -> None:
    """One cheap account once could add 170 000 rows a day: MAX_ROWS_PER_USER
    (per kind) turns the next create into a 409, and nothing is written."""
    keys = jwks_from(auth_app)
    app = create_app(make_resource_settings(database, max_rows_per_user=3), key_source=keys)
    account = await register_and_login(auth_client)
    async with app.router.lifespan_context(app), client_for(app) as client:
        for path, body in (
            ("/items/", lambda n: {"title": f"t{n}"}),
            ("/bookmarks/", lambda n: {"url": f"https://e.example/{n}", "title": "t"}),
        ):
            for n in range(3):
                assert (await client.post(path, json=body(n), headers=account.headers)).status_code == 201
            refused = await client.post(path, json=body(9), headers=account.headers)
            assert refused.status_code == 409, refused.text
            assert "as many as an account may keep" in refused.json()["detail"]
            assert len((await client.get(path, headers=account.headers)).json()) == 3
    await keys.aclose()
