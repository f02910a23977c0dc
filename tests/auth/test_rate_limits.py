import asyncio

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers.accounts import PASSWORD, Account, fullwidth, login, unique_email
from tests.helpers.apps import client_for, client_for_without_reset


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
    # LOGIN_ACCOUNT_RATE_LIMIT: 10 failures a minute per account and address.
    statuses = [(await login(auth_client, spellings[n % 3], "wrong-password")).status_code for n in range(10)]
    assert statuses == [401] * 10
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


async def test_a_stranger_guessing_from_one_address_cannot_lock_the_owner_out(
    auth_app: FastAPI, account: Account
) -> None:
    """ASVS 6.3.1: failures count per account *and* address; the owner, on
    another address, still signs in with the right password."""
    async with client_for(auth_app, "127.0.0.2") as attacker:
        statuses = [(await login(attacker, account.email, "wrong-password")).status_code for _ in range(15)]
        assert statuses == [401] * 10 + [429] * 5
        # The attacker stays refused even with the right password.
        assert (await login(attacker, account.email)).status_code == 429
    async with client_for_without_reset(auth_app, "127.0.0.3") as owner:
        assert (await login(owner, account.email)).status_code == 200


async def test_failures_from_many_addresses_do_trip_the_account_limit(
    auth_app: FastAPI, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guessing spread over many addresses meets the account-wide limit."""
    monkeypatch.setattr(auth_app.state.settings, "login_account_failure_limit", "15/hour")
    async with client_for(auth_app, "127.0.0.2") as first:
        for _ in range(8):
            assert (await login(first, account.email, "wrong-password")).status_code == 401
    for address in ("127.0.0.4", "127.0.0.5"):
        async with client_for_without_reset(auth_app, address) as other:
            for _ in range(4):
                await login(other, account.email, "wrong-password")
    async with client_for_without_reset(auth_app, "127.0.0.3") as owner:
        refused = await login(owner, account.email)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


async def test_successful_logins_do_not_count_as_failures(auth_app: FastAPI, account: Account) -> None:
    async with client_for(auth_app) as client:
        assert [(await login(client, account.email)).status_code for _ in range(15)] == [200] * 15
