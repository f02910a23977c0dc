from typing import Any

import bcrypt
import httpx
import pytest
from fastapi.exceptions import RequestValidationError

from auth_service import passwords
from auth_service.passwords import PasswordHasher
from tests.helpers.accounts import PASSWORD, Account, login, unique_email


async def test_argon2id_with_the_owasp_minimum() -> None:
    hashed = await PasswordHasher(1).hash("s3cret-passw0rd")
    assert hashed.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in hashed


async def test_a_real_bcrypt_hash_verifies_and_asks_for_an_upgrade() -> None:
    legacy = bcrypt.hashpw(b"s3cret-passw0rd", bcrypt.gensalt(rounds=4)).decode()
    hasher = PasswordHasher(1)
    matches, upgraded = await hasher.verify("s3cret-passw0rd", legacy)
    assert matches
    assert upgraded is not None and upgraded.startswith("$argon2id$")
    assert (await hasher.verify("wrong-password", legacy)) == (False, None)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hashes each password verification was checked against."""
    seen: list[str] = []
    for name in ("verify", "verify_and_update"):
        real = getattr(passwords._CONTEXT, name)

        def spy(secret: str, hashed: str, _real: Any = real) -> Any:
            seen.append(hashed)
            return _real(secret, hashed)

        monkeypatch.setattr(passwords._CONTEXT, name, spy)
    return seen


async def test_unknown_account_still_costs_a_verification(verifications: list[str]) -> None:
    hasher = PasswordHasher(1)
    assert (await hasher.verify("anything-at-all", None)) == (False, None)
    # a real argon2id verification, against the dummy hash
    assert verifications == [hasher._dummy_hash] and hasher._dummy_hash.startswith("$argon2id$")


async def test_a_login_for_an_unknown_email_verifies_once_like_a_wrong_password(
    auth_client: httpx.AsyncClient, account: Account, verifications: list[str]
) -> None:
    unknown = await login(auth_client, unique_email(), "wrong-password")
    wrong = await login(auth_client, account.email, "wrong-password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]
    assert len(verifications) == 2 and all(hashed.startswith("$argon2id$") for hashed in verifications)


async def test_login_upgrades_a_bcrypt_hash(auth_client, database) -> None:
    email = unique_email()
    await auth_client.post("/auth/register", json={"email": email, "password": "placeholder-pass"})
    legacy = bcrypt.hashpw(b"legacy-password", bcrypt.gensalt(rounds=4)).decode()
    database.cluster.psql(f"UPDATE users SET password_hash = '{legacy}' WHERE email = '{email}'", database.name)

    assert (await login(auth_client, email, "legacy-password")).status_code == 200
    stored = database.cluster.psql(f"SELECT password_hash FROM users WHERE email = '{email}'", database.name)
    assert stored.startswith("$argon2id$")
    assert (await login(auth_client, email, "legacy-password")).status_code == 200


async def test_passwords_bcrypt_cannot_take_do_not_match() -> None:
    legacy = bcrypt.hashpw(b"s3cret-passw0rd", bcrypt.gensalt(rounds=4)).decode()
    hasher = PasswordHasher(1)
    assert (await hasher.verify("s3cret-passw0rd" + "x" * 80, legacy)) == (False, None)
    assert (await hasher.verify("s3cret\x00passw0rd", legacy)) == (False, None)


@pytest.mark.parametrize(
    "password",
    ["password", "12345678", "qwertyuiop", "iloveyou1", "{email}", "{local}2024", "{username}!", "aaaaaaaaaaaa"],
)
async def test_common_or_context_derived_passwords_are_refused(auth_client: httpx.AsyncClient, password: str) -> None:
    """ASVS 6.2.4 and 6.2.11: zxcvbn's lists and the account's own details."""
    email = unique_email()
    local = email.split("@")[0]
    chosen = password.format(email=email, local=local, username="marvin-the-android")
    response = await auth_client.post(
        "/auth/register", json={"email": email, "password": chosen, "username": "marvin-the-android"}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "password"] and error["type"] == "weak_password"
    assert "too easy to guess" in error["msg"]
    # Nothing was written: the address is still free.
    assert (await auth_client.post("/auth/register", json={"email": email, "password": PASSWORD})).status_code == 201


async def test_a_long_password_is_estimated_on_its_first_characters() -> None:
    # zxcvbn takes 72 characters; a long password of one letter is still weak.
    with pytest.raises(RequestValidationError):
        await passwords.refuse_weak("a" * 128, [])
    await passwords.refuse_weak("correct horse battery staple " * 4, [])


async def test_change_password_ends_the_other_sessions(auth_client: httpx.AsyncClient, account: Account) -> None:
    elsewhere = (await login(auth_client, account.email)).json()
    change = {"current_password": account.password, "new_password": "a brand new passphrase here"}
    assert (await auth_client.put("/users/me/password", json=change, headers=account.headers)).status_code == 204
    # The other login is over; this one stays.
    assert (await auth_client.get("/users/me", headers=account.headers)).status_code == 200
    ended = {"Authorization": f"Bearer {elsewhere['access_token']}"}
    assert (await auth_client.get("/users/me", headers=ended)).status_code == 401
    assert (
        await auth_client.post("/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]})
    ).status_code == 401
    assert (await login(auth_client, account.email)).status_code == 401
    assert (await login(auth_client, account.email, "a brand new passphrase here")).status_code == 200


async def test_change_password_needs_the_current_one_and_a_strong_new_one(
    auth_client: httpx.AsyncClient, account: Account
) -> None:
    wrong = await auth_client.put(
        "/users/me/password",
        json={"current_password": "not-my-password", "new_password": "a brand new passphrase here"},
        headers=account.headers,
    )
    assert wrong.status_code == 403 and wrong.headers["content-type"] == "application/problem+json"
    weak = await auth_client.put(
        "/users/me/password",
        json={"current_password": account.password, "new_password": account.email},
        headers=account.headers,
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["loc"] == ["body", "new_password"]
    # Neither changed anything.
    assert (await login(auth_client, account.email)).status_code == 200
    unauthenticated = await auth_client.put(
        "/users/me/password", json={"current_password": account.password, "new_password": "whatever it may be"}
    )
    assert unauthenticated.status_code == 401


async def test_change_password_is_rate_limited(auth_client: httpx.AsyncClient, account: Account) -> None:
    guess = {"current_password": "guess", "new_password": "a brand new passphrase here"}
    statuses = [
        (await auth_client.put("/users/me/password", json=guess, headers=account.headers)).status_code for _ in range(7)
    ]
    assert statuses == [403] * 5 + [429] * 2
