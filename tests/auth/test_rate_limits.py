import asyncio

import httpx

from tests.helpers.accounts import PASSWORD, Account, fullwidth, login, unique_email


async def test_sixty_rapid_bad_logins_get_429(auth_client: httpx.AsyncClient, account: Account) -> None:
    responses = await asyncio.gather(*(login(auth_client, account.email, "wrong-password") for _ in range(60)))
    statuses = [response.status_code for response in responses]
    assert set(statuses) == {401, 429}
    assert statuses.count(429) >= 40
    limited = next(response for response in responses if response.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    # The account is now locked for a while even with the right password.
    assert (await login(auth_client, account.email)).status_code == 429


async def test_look_alike_spellings_share_one_account_counter(auth_client: httpx.AsyncClient, account: Account) -> None:
    local, _, domain = account.email.partition("@")
    spellings = [account.email, fullwidth(local) + "@" + domain, local.upper() + "@" + fullwidth(domain)]
    # LOGIN_ACCOUNT_RATE_LIMIT is 10/minute, and the fixture's login was the first.
    statuses = [(await login(auth_client, spellings[n % 3], "wrong-password")).status_code for n in range(9)]
    assert statuses == [401] * 9
    assert (await login(auth_client, account.email)).status_code == 429


async def test_login_limit_is_also_per_client_ip(auth_client: httpx.AsyncClient) -> None:
    # Spraying many accounts from one address trips the per-IP limit.
    statuses = [(await login(auth_client, unique_email(), "wrong-password")).status_code for _ in range(25)]
    assert statuses[:20] == [401] * 20
    assert statuses[20:] == [429] * 5


async def test_register_is_rate_limited(auth_client: httpx.AsyncClient) -> None:
    statuses = [
        (await auth_client.post("/auth/register", json={"email": unique_email(), "password": PASSWORD})).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [201] * 10
    assert statuses[10:] == [429, 429]
