"""The resource service's owned rows: the kinds the contract suite
(tests/resource/test_owned.py) runs over, and making and listing rows."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.helpers.accounts import Account


@dataclass(frozen=True)
class Kind:
    """One kind of owned row, for the tests every kind must pass."""

    path: str
    new: Callable[[], dict[str, Any]]
    change: dict[str, Any]

    def __str__(self) -> str:
        return self.path.strip("/")


ITEMS = Kind("/items/", lambda: {"title": f"item {uuid.uuid4().hex[:8]}", "price": "9.99"}, {"title": "renamed"})
BOOKMARKS = Kind(
    "/bookmarks/",
    lambda: {"url": f"https://example.com/{uuid.uuid4().hex}", "title": f"page {uuid.uuid4().hex[:8]}", "tags": ["x"]},
    {"title": "renamed"},
)
KINDS = [ITEMS, BOOKMARKS]


async def create(client: httpx.AsyncClient, account: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def list_ids(client: httpx.AsyncClient, account: Account, path: str, **params: Any) -> list[str]:
    response = await client.get(path, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]
