import httpx
import pytest

from tests.helpers.accounts import Account


async def test_a_request_id_is_made_when_none_is_sent(auth_client: httpx.AsyncClient) -> None:
    first = await auth_client.get("/livez")
    second = await auth_client.get("/livez")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("incoming", ["has space", "x" * 129, "<script>", "a\tb"])
async def test_malformed_incoming_ids_are_replaced(auth_client: httpx.AsyncClient, incoming: str) -> None:
    response = await auth_client.get("/livez", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] != incoming


async def test_error_bodies_carry_the_request_id(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/no/such/path", headers={"X-Request-ID": "req.42"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
        "request_id": "req.42",
    }


async def test_wrong_method_is_a_405_problem(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.put("/auth/register")
    assert response.status_code == 405
    assert response.json()["status"] == 405


async def test_personal_answers_are_never_cached_but_the_jwks_may_be(
    auth_client: httpx.AsyncClient, account: Account
) -> None:
    """ASVS 14.3.2: accounts, lists and rows carry `Cache-Control: no-store`."""
    for response in (
        await auth_client.get("/users/me", headers=account.headers),
        await auth_client.get("/users/me"),  # the 401 too
        await auth_client.post("/auth/token", data={"username": account.email, "password": account.password}),
    ):
        assert response.headers["cache-control"] == "no-store", response.request.url
    assert (await auth_client.get("/.well-known/jwks.json")).headers["cache-control"] == "public, max-age=300"


async def test_head_is_get_without_the_body(auth_client: httpx.AsyncClient, account: Account) -> None:
    """RFC 9110 §9.3.2: HEAD was a 405 on every GET route."""
    for path, headers in (("/users/me", account.headers), ("/.well-known/jwks.json", {}), ("/livez", {})):
        get = await auth_client.get(path, headers=headers)
        head = await auth_client.head(path, headers=headers)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.headers["content-type"] == get.headers["content-type"]
    assert (await auth_client.head("/users/me")).status_code == 401
