"""The service as it is deployed: `resource_service.main:app` under gunicorn
with the shared config, in a process that never imports the auth service's
models, so the `users` table is not mapped there."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import fresh_python
from tests.helpers.accounts import Account, register_and_login
from tests.helpers.database import Database
from tests.helpers.gunicorn import resource_under_gunicorn


def test_importing_the_service_loads_no_auth_code() -> None:
    probe = (
        "import sys, resource_service.main, resource_service.items.models, resource_service.bookmarks.models; "
        "print(sorted(m for m in sys.modules if m.startswith(('auth_service', 'migrations'))))"
    )
    assert fresh_python(probe).strip() == "[]"


@pytest.fixture(scope="module")
def served(database: Database, signing_key_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with resource_under_gunicorn(database, signing_key_file, tmp_path_factory.mktemp("resource")) as served:
        yield served.base


async def test_served_by_gunicorn(served: str, auth_client: httpx.AsyncClient) -> None:
    account: Account = await register_and_login(auth_client)
    async with httpx.AsyncClient(base_url=served, headers=account.headers) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        # A flush with the owner foreign key, where `users` is not mapped.
        created = await client.post("/items", json={"title": "from gunicorn", "price": "1.50"})
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"/items/{created.json()['id']}"
        bookmark = await client.post("/bookmarks/", json={"url": "https://example.com/", "title": "t"})
        assert bookmark.status_code == 201, bookmark.text
        listed = await client.get("/items/")
        assert [row["title"] for row in listed.json()] == ["from gunicorn"]
        docs = await client.get("/resource/openapi.json")
        assert set(docs.json()["paths"]) == {"/items/", "/items/{id}", "/bookmarks/", "/bookmarks/{id}"}
        assert (await client.get("/resource/docs")).status_code == 200

        # The deleted-account paths, in the same process.
        assert (await auth_client.delete("/users/me", headers=account.headers)).status_code == 204
        gone = await client.post("/items/", json={"title": "orphan"})
        assert gone.status_code == 401, gone.text
        assert (await client.get("/bookmarks/")).status_code == 401
