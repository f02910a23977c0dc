import httpx
import pytest


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
