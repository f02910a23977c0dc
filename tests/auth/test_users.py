import httpx

from tests.helpers.accounts import Account, login


async def test_me_returns_the_account(auth_client: httpx.AsyncClient, account: Account) -> None:
    response = await auth_client.get("/users/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["email"] == account.email
    assert response.json()["id"] == account.id


async def test_me_without_token_is_401(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/users/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_delete_me_then_every_credential_is_dead(auth_client: httpx.AsyncClient, account: Account) -> None:
    deleted = await auth_client.delete("/users/me", headers=account.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""

    # The access token is still well-signed and unexpired, but its account is gone.
    assert (await auth_client.get("/users/me", headers=account.headers)).status_code == 401
    assert (await auth_client.delete("/users/me", headers=account.headers)).status_code == 401
    refreshed = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401
    assert (await login(auth_client, account.email)).status_code == 401
