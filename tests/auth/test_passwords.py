import bcrypt

from auth_service.passwords import PasswordHasher
from tests.auth.conftest import login, unique_email


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


async def test_unknown_account_still_costs_a_verification() -> None:
    assert (await PasswordHasher(1).verify("anything-at-all", None)) == (False, None)


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
