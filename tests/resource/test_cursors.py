"""Following `Link` (rel="next") pages by cursor: every row exactly once, in
every sort (equal sort values, NULL prices, timestamps a microsecond apart),
while rows are added at the head; `offset` still works; a cursor that is not
one of ours, or not for this sort, is a 422 problem."""

import base64
import json
from typing import Any

import httpx
import pytest

from tests.helpers.accounts import Account
from tests.helpers.database import Database
from tests.helpers.rows import BOOKMARKS, ITEMS, Kind, create, list_ids


async def walk(client: httpx.AsyncClient, account: Account, path: str, **params: Any) -> list[str]:
    """Every row's id, following `Link` from the first page; each page's
    `X-Total-Count` must be the list's total."""
    response = await client.get(path, params=params, headers=account.headers)
    total = response.headers["x-total-count"]
    ids: list[str] = []
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["x-total-count"] == total
        ids += [row["id"] for row in response.json()]
        if "next" not in response.links:
            return ids
        response = await client.get(response.links["next"]["url"], headers=account.headers)


# Equal titles and prices, and items without one: ties and NULLs at page edges.
ITEM_ROWS: list[dict[str, Any]] = [
    {"title": "same", "price": None},
    {"title": "same", "price": "10"},
    {"title": "b", "price": "10"},
    {"title": "same", "price": None},
    {"title": "a", "price": "20"},
    {"title": "c", "price": "5"},
    {"title": "same", "price": None},
]
BOOKMARK_ROWS: list[dict[str, Any]] = [
    {"title": title, "url": f"https://e.example/{n}"} for n, title in enumerate("xaxbxxa")
]
ROWS: dict[str, list[dict[str, Any]]] = {ITEMS.path: ITEM_ROWS, BOOKMARKS.path: BOOKMARK_ROWS}
SORTS = {
    ITEMS.path: ["-created_at", "created_at", "title", "-title", "price", "-price"],
    BOOKMARKS.path: ["-created_at", "created_at", "title", "-title", "url", "-url"],
}


@pytest.mark.parametrize(("path", "sort"), [(path, sort) for path, sorts in SORTS.items() for sort in sorts])
@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_following_link_walks_every_row_once_in_order(
    client: httpx.AsyncClient, account: Account, path: str, sort: str, limit: int
) -> None:
    for body in ROWS[path]:
        await create(client, account, path, body)
    expected = await list_ids(client, account, path, sort=sort, limit=100)
    assert len(expected) == len(ROWS[path])
    assert await walk(client, account, path, sort=sort, limit=limit) == expected


@pytest.mark.parametrize(("sort", "nulls"), [("price", slice(-3, None)), ("-price", slice(0, 3))])
async def test_items_without_a_price_come_last_ascending_first_descending(
    client: httpx.AsyncClient, account: Account, sort: str, nulls: slice
) -> None:
    for body in ITEM_ROWS:
        await create(client, account, ITEMS.path, body)
    response = await client.get(ITEMS.path, params={"sort": sort}, headers=account.headers)
    assert [row["price"] for row in response.json()][nulls] == [None] * 3


async def test_timestamps_a_microsecond_apart_or_equal_are_walked_once(
    client: httpx.AsyncClient, kind: Kind, account: Account, database: Database
) -> None:
    for _ in range(6):
        await create(client, account, kind.path, kind.new())
    # Two rows at the same instant, the others a microsecond apart.
    database.cluster.psql(
        f"""UPDATE {kind} SET created_at = timestamptz '2026-01-01 00:00:00.000001+00'
                + least(n, 2) * interval '1 microsecond'
            FROM (SELECT id AS row_id, row_number() OVER (ORDER BY id) AS n FROM {kind}
                  WHERE owner_id = '{account.id}') numbered
            WHERE id = row_id""",
        database.name,
    )
    for sort in ("created_at", "-created_at"):
        expected = await list_ids(client, account, kind.path, sort=sort)
        assert await walk(client, account, kind.path, sort=sort, limit=1) == expected


async def test_rows_added_at_the_head_while_walking_are_neither_seen_nor_shift_the_walk(
    client: httpx.AsyncClient, kind: Kind, account: Account
) -> None:
    for _ in range(5):
        await create(client, account, kind.path, kind.new())
    before = await list_ids(client, account, kind.path)
    first = await client.get(kind.path, params={"limit": 2}, headers=account.headers)
    seen = [row["id"] for row in first.json()]
    for _ in range(3):  # newer than every row: the head of the default order
        await create(client, account, kind.path, kind.new())
    response = await client.get(first.links["next"]["url"], headers=account.headers)
    while True:
        assert response.headers["x-total-count"] == "8"
        seen += [row["id"] for row in response.json()]
        if "next" not in response.links:
            break
        response = await client.get(response.links["next"]["url"], headers=account.headers)
    assert seen == before


async def test_offset_pages_still_work_and_link_on(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    for _ in range(7):
        await create(client, account, kind.path, kind.new())
    everything = await list_ids(client, account, kind.path)
    assert await list_ids(client, account, kind.path, offset=3, limit=2) == everything[3:5]
    assert await walk(client, account, kind.path, offset=3, limit=2) == everything[3:]


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).rstrip(b"=").decode()


async def test_bad_cursors_are_422_problems(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    for _ in range(3):
        await create(client, account, kind.path, kind.new())
    first = await client.get(kind.path, params={"limit": 1, "sort": "created_at"}, headers=account.headers)
    good = httpx.URL(first.links["next"]["url"]).params["cursor"]
    sort, key, row_id = json.loads(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
    assert sort == "created_at"
    assert (
        await client.get(kind.path, params={"sort": "created_at", "cursor": good}, headers=account.headers)
    ).status_code == 200

    bad: list[dict[str, Any]] = [
        {"sort": "-created_at", "cursor": good},  # made for another sort
        {"sort": "title", "cursor": good},
        {"sort": "created_at", "cursor": good, "offset": 1},  # both starts
        {"sort": "created_at", "cursor": good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB")},  # tampered
        {"sort": "created_at", "cursor": good + "!"},
        {"sort": "created_at", "cursor": ""},
        {"sort": "created_at", "cursor": "x" * 5000},
        {"sort": "created_at", "cursor": _cursor([sort, key])},
        {"sort": "created_at", "cursor": _cursor([sort, "yesterday", row_id])},
        {"sort": "created_at", "cursor": _cursor([sort, key.removesuffix("+00:00"), row_id])},  # no time zone
        {"sort": "created_at", "cursor": _cursor([sort, key, "not-a-uuid"])},
        {"sort": "created_at", "cursor": _cursor({"sort": sort})},
        {"sort": "title", "cursor": _cursor(["title", "a\u0000b", row_id])},
        {"sort": "title", "cursor": _cursor(["title", "\ud800", row_id])},
        {"sort": "title", "cursor": _cursor(["title", 12, row_id])},
        {"sort": "title", "cursor": _cursor(["title", None, row_id])},
        {"sort": "created_at", "cursor": _cursor([sort, key, row_id, "more"])},
        {"sort": "created_at", "cursor": base64.urlsafe_b64encode(b"[" * 3000).decode()},
        {"sort": "created_at", "cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()},
    ]
    for params in bad:
        response = await client.get(kind.path, params=params, headers=account.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("cursor", ["NaN", "Infinity", "1e999999", "12.345", "-1e30", "١٢", 12.5])
async def test_bad_price_cursors_are_422(client: httpx.AsyncClient, account: Account, cursor: Any) -> None:
    response = await client.get(
        ITEMS.path,
        params={"sort": "price", "cursor": _cursor(["price", cursor, "00000000-0000-0000-0000-000000000000"])},
        headers=account.headers,
    )
    assert response.status_code in ((200,) if cursor == 12.5 else (422,)), response.text
