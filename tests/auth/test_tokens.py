import base64
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from tests.helpers.accounts import PASSWORD, Account, fullwidth, login, register_and_login, unique_email
from tests.helpers.database import Database


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_token_response_shape(auth_client: httpx.AsyncClient, auth_app: FastAPI) -> None:
    email = unique_email()
    await auth_client.post("/auth/register", json={"email": email, "password": PASSWORD})
    response = await login(auth_client, email)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900

    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"] == auth_app.state.keyring.kid
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert set(claims) >= {"iss", "aud", "sub", "exp", "iat", "jti"}
    assert claims["exp"] - claims["iat"] == 900


async def test_login_alias_and_email_case(auth_client: httpx.AsyncClient) -> None:
    email = unique_email()
    await auth_client.post("/auth/register", json={"email": email, "password": PASSWORD})
    response = await auth_client.post("/auth/login", data={"username": email.upper(), "password": PASSWORD})
    assert response.status_code == 200


def _subject(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return jwt.decode(response.json()["access_token"], options={"verify_signature": False})["sub"]


async def test_login_takes_any_spelling_of_the_email_that_compares_equal(
    auth_client: httpx.AsyncClient, account: Account
) -> None:
    local, _, domain = account.email.partition("@")
    for spelling in (fullwidth(local.upper()) + "@" + domain, f"{local}@{fullwidth(domain.upper())}"):
        assert _subject(await login(auth_client, spelling)) == account.id


async def test_an_account_the_migration_rekeyed_logs_in_by_its_exact_address(
    auth_client: httpx.AsyncClient, database: Database
) -> None:
    # What the identity migration leaves when two accounts spelt one address
    # two ways: the older keeps the key, the later gets `<key>#<id>`.
    older, later = await register_and_login(auth_client), await register_and_login(auth_client)
    local, _, domain = older.email.partition("@")
    look_alike = fullwidth(local) + "@" + domain
    database.cluster.psql(
        f"UPDATE users SET email = '{look_alike}', email_key = '{older.email}#{later.id}' WHERE id = '{later.id}'",
        database.name,
    )
    # Its exact address (in any case, as ever) is the later account's...
    assert _subject(await login(auth_client, look_alike)) == later.id
    assert _subject(await login(auth_client, fullwidth(local.upper()) + "@" + domain)) == later.id
    # ...every other spelling of the key is the older account's.
    assert _subject(await login(auth_client, older.email.upper())) == older.id
    assert _subject(await login(auth_client, f"{local}@{fullwidth(domain)}")) == older.id


async def test_an_account_without_keys_logs_in_by_its_exact_address(
    auth_client: httpx.AsyncClient, database: Database, account: Account
) -> None:
    # The release before identity keys inserts accounts without them while its
    # pods drain (README "Identity keys").
    database.cluster.psql(
        f"UPDATE users SET email_key = NULL, username_key = NULL WHERE id = '{account.id}'", database.name
    )
    assert _subject(await login(auth_client, account.email.upper())) == account.id


async def test_wrong_password_and_unknown_email_are_indistinguishable(
    auth_client: httpx.AsyncClient, account: Account
) -> None:
    wrong = await login(auth_client, account.email, "not the password")
    unknown = await login(auth_client, unique_email(), "not the password")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(wrong.json()) == strip(unknown.json())
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"


async def test_login_form_is_required(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post("/auth/token", json={"username": "a", "password": "b"})
    assert response.status_code == 422


async def test_jwks_publishes_the_signing_key(auth_client: httpx.AsyncClient, account: Account) -> None:
    response = await auth_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    kid = jwt.get_unverified_header(account.access_token)["kid"]
    (published,) = [key for key in keys if key["kid"] == kid]
    assert published["kty"] == "OKP" and published["alg"] == "EdDSA" and "d" not in published
    claims = jwt.decode(
        account.access_token,
        jwt.PyJWK(published).key,
        algorithms=["EdDSA"],
        audience="api",
        issuer="http://auth.local",
    )
    assert claims["sub"] == account.id


async def test_expired_token_is_401(auth_client: httpx.AsyncClient, auth_app: FastAPI, account: Account) -> None:
    keyring = auth_app.state.keyring
    now = int(time.time())
    expired = jwt.encode(
        {
            "iss": "http://auth.local",
            "aud": "api",
            "sub": account.id,
            "iat": now - 3600,
            "exp": now - 600,
            "jti": uuid.uuid4().hex,
        },
        keyring._private_key,
        algorithm="EdDSA",
        headers={"kid": keyring.kid},
    )
    response = await auth_client.get("/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_token_signed_by_another_key_is_401(
    auth_client: httpx.AsyncClient, auth_app: FastAPI, account: Account
) -> None:
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": auth_app.state.keyring.kid}
    )
    response = await auth_client.get("/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_alg_none_is_401(auth_client: httpx.AsyncClient, auth_app: FastAPI, account: Account) -> None:
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': auth_app.state.keyring.kid})}.{_b64(claims)}."
    response = await auth_client.get("/users/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "Bearer"])
async def test_malformed_tokens_are_401(auth_client: httpx.AsyncClient, token: str) -> None:
    response = await auth_client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_wrong_audience_or_issuer_is_401(
    auth_client: httpx.AsyncClient, auth_app: FastAPI, account: Account
) -> None:
    keyring = auth_app.state.keyring
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    for override in ({"aud": "someone-else"}, {"iss": "https://evil.example"}):
        token = jwt.encode(
            {**claims, **override}, keyring._private_key, algorithm="EdDSA", headers={"kid": keyring.kid}
        )
        response = await auth_client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_refresh_rotates_the_refresh_token(auth_client: httpx.AsyncClient, account: Account) -> None:
    response = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] != account.refresh_token
    me = await auth_client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    again = await auth_client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 200


async def test_refresh_reuse_revokes_the_whole_family(auth_client: httpx.AsyncClient, account: Account) -> None:
    first = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    successor = first.json()["refresh_token"]

    replay = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert replay.status_code == 401

    # The legitimate successor dies with the family.
    after = await auth_client.post("/auth/refresh", json={"refresh_token": successor})
    assert after.status_code == 401


async def test_other_logins_survive_a_family_revocation(auth_client: httpx.AsyncClient, account: Account) -> None:
    other = (await login(auth_client, account.email)).json()["refresh_token"]
    await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    response = await auth_client.post("/auth/refresh", json={"refresh_token": other})
    assert response.status_code == 200


async def test_logout_revokes_the_refresh_token(auth_client: httpx.AsyncClient, account: Account) -> None:
    response = await auth_client.post("/auth/logout", json={"refresh_token": account.refresh_token})
    assert response.status_code == 204
    refreshed = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401
    # Logging out twice, or with an unknown token, reveals nothing.
    again = await auth_client.post("/auth/logout", json={"refresh_token": account.refresh_token})
    assert again.status_code == 204


async def test_unknown_refresh_token_is_401(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post("/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401
    empty = await auth_client.post("/auth/refresh", json={"refresh_token": ""})
    assert empty.status_code == 422


async def test_refresh_tokens_are_stored_hashed(auth_client: httpx.AsyncClient, database, account: Account) -> None:
    stored = database.cluster.psql("SELECT token_hash FROM refresh_tokens", database.name)
    assert account.refresh_token not in stored
    import hashlib

    assert hashlib.sha256(account.refresh_token.encode()).hexdigest() in stored


async def test_two_accounts_get_distinct_subjects(auth_client: httpx.AsyncClient) -> None:
    first, second = await register_and_login(auth_client), await register_and_login(auth_client)
    assert jwt.decode(first.access_token, options={"verify_signature": False})["sub"] == first.id
    assert first.id != second.id


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("known", "x" * 5000),  # longer than any account's password (and than passlib takes)
        ("unknown", "x" * 5000),
        ("known", "nul\x00byte-password"),
        ("nul\x00@example.com", PASSWORD),  # PostgreSQL text cannot hold NUL
        ("a" * 400 + "@example.com", PASSWORD),
    ],
)
async def test_impossible_credentials_are_a_plain_401(
    auth_client: httpx.AsyncClient, account: Account, username: str, password: str
) -> None:
    email = {"known": account.email, "unknown": unique_email()}.get(username, username)
    response = await login(auth_client, email, password)
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == "Incorrect email or password."


async def test_a_password_with_nul_cannot_be_registered(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post("/auth/register", json={"email": unique_email(), "password": "abc\u0000defgh"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "password"]
