from typing import Any

import bcrypt
import httpx
import pytest

from auth_service import passwords
from auth_service.passwords import PasswordHasher
from tests.helpers.accounts import Account, login, unique_email


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
