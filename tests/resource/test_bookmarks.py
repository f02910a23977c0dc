import uuid

import httpx
import pytest

from tests.helpers.accounts import Account
from tests.helpers.rows import create, list_ids


def _url() -> str:
    return f"https://example.com/{uuid.uuid4().hex}"


async def test_create_bookmark(client: httpx.AsyncClient, account: Account) -> None:
    url = _url()
    response = await client.post(
        "/bookmarks/",
        json={"url": url, "title": "Example", "description": "d", "tags": ["Python", "web-dev", "python"]},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "url", "title", "description", "tags", "created_at", "updated_at"}
    assert body["url"] == url
    assert body["tags"] == ["python", "web-dev"]
    assert response.headers["location"] == f"/bookmarks/{body['id']}"
    fetched = await client.get(f"/bookmarks/{body['id']}", headers=account.headers)
    assert fetched.json() == body
    assert fetched.headers["etag"] == response.headers["etag"]


async def test_tags_default_to_empty(client: httpx.AsyncClient, account: Account) -> None:
    body = await create(client, account, "/bookmarks", {"url": _url(), "title": "t"})
    assert body["tags"] == []
    assert body["description"] is None


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("HTTP://Example.COM:80/Path?Q=1#frag", "http://example.com/Path?Q=1"),
        ("https://EXAMPLE.com:443", "https://example.com/"),
        ("https://example.com:8443/a/../b", "https://example.com:8443/b"),
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        ("  https://example.com/trimmed  ", "https://example.com/trimmed"),
    ],
)
async def test_urls_are_normalised(client: httpx.AsyncClient, account: Account, sent: str, stored: str) -> None:
    body = await create(client, account, "/bookmarks/", {"url": sent, "title": "t"})
    assert body["url"] == stored


async def test_same_url_twice_is_409_naming_the_first(client: httpx.AsyncClient, account: Account) -> None:
    first = await create(client, account, "/bookmarks/", {"url": "https://dup.example/page", "title": "t"})
    # Equal once normalised, so the same bookmark.
    again = await client.post(
        "/bookmarks/", json={"url": "HTTPS://DUP.example:443/page#section", "title": "other"}, headers=account.headers
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["existing_id"] == first["id"]
    listed = await client.get("/bookmarks/", headers=account.headers)
    assert [row["id"] for row in listed.json()] == [first["id"]]


async def test_two_users_may_bookmark_the_same_url(client: httpx.AsyncClient, account: Account, other: Account) -> None:
    url = _url()
    mine = await create(client, account, "/bookmarks/", {"url": url, "title": "t"})
    theirs = await create(client, other, "/bookmarks/", {"url": url, "title": "t"})
    assert mine["id"] != theirs["id"]


async def test_patch_to_an_existing_url_is_409(client: httpx.AsyncClient, account: Account) -> None:
    first = await create(client, account, "/bookmarks/", {"url": _url(), "title": "first"})
    second = await create(client, account, "/bookmarks/", {"url": _url(), "title": "second"})
    response = await client.patch(
        f"/bookmarks/{second['id']}", json={"url": first["url"], "title": "changed"}, headers=account.headers
    )
    assert response.status_code == 409
    assert response.json()["existing_id"] == first["id"]
    unchanged = await client.get(f"/bookmarks/{second['id']}", headers=account.headers)
    assert unchanged.json() == second


async def test_patch_bookmark(client: httpx.AsyncClient, account: Account) -> None:
    bookmark = await create(client, account, "/bookmarks/", {"url": _url(), "title": "t", "tags": ["a"]})
    new_url = _url()
    response = await client.patch(
        f"/bookmarks/{bookmark['id']}", json={"url": new_url.upper(), "tags": ["B", "c"]}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["url"] == "HTTPS://EXAMPLE.COM/".lower() + new_url.upper().split("/", 3)[3]
    assert (body["title"], body["tags"]) == ("t", ["b", "c"])
    cleared = await client.patch(f"/bookmarks/{bookmark['id']}", json={"tags": []}, headers=account.headers)
    assert cleared.json()["tags"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"title": "no url"},
        {"url": "https://example.com/"},
        {"url": "ftp://example.com/file", "title": "t"},
        {"url": "javascript:alert(1)", "title": "t"},
        {"url": "file:///etc/passwd", "title": "t"},
        {"url": "not a url", "title": "t"},
        {"url": "https://", "title": "t"},
        {"url": "https://example.com/" + "a" * 2030, "title": "t"},
        {"url": "https://example.com/a\x00b", "title": "t"},
        {"url": "https://example.com/\x00", "title": "t"},
        {"url": "https://example.com/", "title": ""},
        {"url": "https://example.com/", "title": "x" * 201},
        {"url": "https://example.com/", "title": "t", "description": "x" * 2001},
        {"url": "https://example.com/", "title": "t\x00"},
        {"url": "https://example.com/", "title": "t", "tags": ["has space"]},
        {"url": "https://example.com/", "title": "t", "tags": ["under_score"]},
        {"url": "https://example.com/", "title": "t", "tags": [""]},
        {"url": "https://example.com/", "title": "t", "tags": ["x" * 33]},
        {"url": "https://example.com/", "title": "t", "tags": [f"t{n}" for n in range(21)]},
        {"url": "https://example.com/", "title": "t", "tags": "python"},
        {"url": "https://example.com/", "title": "t", "tags": None},
        {"url": "https://example.com/", "title": "t", "owner_id": str(uuid.uuid4())},
        {"url": "https://example.com/", "title": "t", "id": str(uuid.uuid4())},
    ],
)
async def test_invalid_bookmarks_are_422(client: httpx.AsyncClient, account: Account, body: dict) -> None:
    response = await client.post("/bookmarks/", json=body, headers=account.headers)
    assert response.status_code == 422, response.text


async def test_bounds_are_inclusive(client: httpx.AsyncClient, account: Account) -> None:
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    body = await create(
        client, account, "/bookmarks/", {"url": url, "title": "x" * 200, "tags": [f"t{n:031d}" for n in range(20)]}
    )
    assert len(body["url"]) == 2048
    assert len(body["tags"]) == 20


@pytest.mark.parametrize("patch", [{"url": None}, {"title": None}, {"tags": None}, {"url": "mailto:a@b.c"}])
async def test_invalid_bookmark_patches_are_422(client: httpx.AsyncClient, account: Account, patch: dict) -> None:
    bookmark = await create(client, account, "/bookmarks/", {"url": _url(), "title": "t"})
    response = await client.patch(f"/bookmarks/{bookmark['id']}", json=patch, headers=account.headers)
    assert response.status_code == 422


async def test_filters(client: httpx.AsyncClient, account: Account) -> None:
    docs = await create(
        client, account, "/bookmarks/", {"url": "https://docs.python.org/3/", "title": "Docs", "tags": ["python"]}
    )
    pep = await create(
        client,
        account,
        "/bookmarks/",
        {"url": "https://peps.python.org/pep-0008/", "title": "Style", "tags": ["python", "style"]},
    )
    rust = await create(
        client,
        account,
        "/bookmarks/",
        {"url": "https://doc.rust-lang.org/", "title": "Rust", "description": "The PYTHON of systems?"},
    )
    assert set(await list_ids(client, account, "/bookmarks/", q="python")) == {docs["id"], pep["id"], rust["id"]}
    assert await list_ids(client, account, "/bookmarks/", q="style") == [pep["id"]]
    assert await list_ids(client, account, "/bookmarks/", q="RUST-lang") == [rust["id"]]
    assert set(await list_ids(client, account, "/bookmarks/", tag="python")) == {docs["id"], pep["id"]}
    assert await list_ids(client, account, "/bookmarks/", tag=["python", "style"]) == [pep["id"]]
    assert await list_ids(client, account, "/bookmarks/", tag="PYTHON", q="docs") == [docs["id"]]
    assert await list_ids(client, account, "/bookmarks/", tag="nothing") == []


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "owner_id"},
        {"tag": "Not Valid"},
        {"tag": "x" * 33},
        {"tag": [f"t{n}" for n in range(21)]},
    ],
)
async def test_invalid_list_parameters_are_422(client: httpx.AsyncClient, account: Account, params: dict) -> None:
    response = await client.get("/bookmarks/", params=params, headers=account.headers)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "url", ["https://user:secret@example.com/", "https://user@example.com/", "http://:pw@example.com"]
)
async def test_a_url_with_credentials_is_refused(client: httpx.AsyncClient, account: Account, url: str) -> None:
    response = await client.post("/bookmarks/", json={"url": url, "title": "t"}, headers=account.headers)
    assert response.status_code == 422, response.text
    assert "user name or password" in response.text
    assert "secret" not in response.text.replace(url, "")


@pytest.mark.parametrize("title", ["\x1b[31mred", "\u200b", "a\x07"])
async def test_titles_of_control_or_invisible_characters_are_refused(
    client: httpx.AsyncClient, account: Account, title: str
) -> None:
    body = {"url": f"https://example.com/{uuid.uuid4().hex}", "title": title}
    assert (await client.post("/bookmarks/", json=body, headers=account.headers)).status_code == 422
