"""The counts the database keeps per owner and kind (`row_counts`): exact
through every way rows come and go, and what an unfiltered list's
`X-Total-Count` and the quota check read. (The migration, its backfill and
TRUNCATE are tested on a scratch database: tests/migrations/test_row_counts.py.)"""

import asyncio

import httpx

from tests.helpers.accounts import Account, register_and_login
from tests.helpers.database import Database
from tests.helpers.rows import Kind, create


def kept(database: Database, account: Account, kind: Kind) -> str:
    """The kept count as psql prints it: empty when the owner has no row."""
    table = str(kind)
    return database.cluster.psql(
        f"SELECT rows FROM row_counts WHERE owner_id = '{account.id}' AND kind = '{table}'", database.name
    ).strip()


def counted(database: Database, account: Account, kind: Kind) -> str:
    table = str(kind)
    return database.cluster.psql(f"SELECT count(*) FROM {table} WHERE owner_id = '{account.id}'", database.name).strip()


async def total(client: httpx.AsyncClient, account: Account, kind: Kind) -> str:
    response = await client.get(kind.path, params={"limit": 1}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.headers["x-total-count"]


async def test_counts_follow_creates_and_deletes(
    client: httpx.AsyncClient, kind: Kind, account: Account, database: Database
) -> None:
    assert kept(database, account, kind) == ""
    assert await total(client, account, kind) == "0"
    rows = [await create(client, account, kind.path, kind.new()) for _ in range(3)]
    assert kept(database, account, kind) == "3"
    assert await total(client, account, kind) == "3"
    assert (await client.delete(f"{kind.path}{rows[0]['id']}", headers=account.headers)).status_code == 204
    assert kept(database, account, kind) == counted(database, account, kind) == "2"
    assert await total(client, account, kind) == "2"


async def test_counts_stay_exact_under_concurrent_creates(
    client: httpx.AsyncClient, kind: Kind, account: Account, database: Database
) -> None:
    responses = await asyncio.gather(
        *(client.post(kind.path, json=kind.new(), headers=account.headers) for _ in range(8))
    )
    assert [response.status_code for response in responses] == [201] * 8
    assert kept(database, account, kind) == counted(database, account, kind) == "8"


async def test_bulk_statements_are_counted_once_per_owner(
    client: httpx.AsyncClient, kind: Kind, account: Account, other: Account, database: Database
) -> None:
    """One INSERT ... SELECT for two owners, and DELETEs of many rows at once:
    the statement-level triggers count every row, for the right owner."""
    if kind.path == "/items/":
        insert = "INSERT INTO items (id, owner_id, title, version) SELECT gen_random_uuid(), o, 't' || n, 1"
    else:
        insert = (
            "INSERT INTO bookmarks (id, owner_id, url, title, version)"
            " SELECT gen_random_uuid(), o, 'https://bulk.example/' || n, 't' || n, 1"
        )
    database.cluster.psql(
        f"{insert} FROM (VALUES ('{account.id}'::uuid, 120), ('{other.id}'::uuid, 7)) AS owners (o, rows)"
        " CROSS JOIN LATERAL generate_series(1, rows) n",
        database.name,
    )
    assert (kept(database, account, kind), kept(database, other, kind)) == ("120", "7")
    database.cluster.psql(
        f"DELETE FROM {kind} WHERE owner_id IN ('{account.id}', '{other.id}') AND title LIKE 't1%'", database.name
    )
    assert kept(database, account, kind) == counted(database, account, kind) == "88"
    assert kept(database, other, kind) == counted(database, other, kind) == "6"
    assert await total(client, account, kind) == "88"


async def test_deleting_the_account_deletes_its_counts(
    client: httpx.AsyncClient, auth_client: httpx.AsyncClient, kind: Kind, database: Database
) -> None:
    account = await register_and_login(auth_client)
    for _ in range(2):
        await create(client, account, kind.path, kind.new())
    # The cascade deletes the rows (whose trigger must not re-create a count
    # for a user being deleted) and the counts.
    assert (await auth_client.delete("/users/me", headers=account.headers)).status_code == 204
    assert kept(database, account, kind) == ""
    assert counted(database, account, kind) == "0"


async def test_filtered_totals_are_still_counted(client: httpx.AsyncClient, kind: Kind, account: Account) -> None:
    titles = ["needle one", "needle two", "hay"]
    for title in titles:
        await create(client, account, kind.path, {**kind.new(), "title": title})
    response = await client.get(kind.path, params={"q": "needle"}, headers=account.headers)
    assert response.headers["x-total-count"] == "2"
