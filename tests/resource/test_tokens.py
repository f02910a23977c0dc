"""How the resource service trusts access tokens: the auth service's JWKS,
fetched and cached, refetched for a new `kid` (rotation without a restart),
or a static public key file."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_service.main import create_app as create_auth_app
from resource_service.config import ResourceSettings
from resource_service.main import create_app
from servicekit.settings import ConfigurationError
from tests.helpers.accounts import Account, login, register_and_login
from tests.helpers.apps import JWKS_URL, jwks_from, make_auth_settings, make_resource_settings
from tests.helpers.database import Database
from tests.helpers.keys import public_pem, write_private_key


class AuthEndpoint:
    """Stands where the auth service's address is: forwards to whichever auth
    app is current (a redeploy with new keys swaps it) and counts requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            yield client


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await login(client, email)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _kid(headers: dict[str, str]) -> str:
    return jwt.get_unverified_header(headers["Authorization"].removeprefix("Bearer "))["kid"]


async def test_key_rotation_needs_no_restart(
    database: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, signing_key_file: Path, tmp_path: Path
) -> None:
    endpoint = AuthEndpoint(auth_app)
    keys = jwks_from(endpoint, max_age=0.5, min_refetch_interval=0.1)
    resource = create_app(make_resource_settings(database), key_source=keys)
    account = await register_and_login(auth_client)
    old_token = account.headers

    async with running(resource) as client:
        assert (await client.get("/items/", headers=old_token)).status_code == 200

        # Rotation, step 1: the auth service signs with a new key and still
        # publishes the old public key.
        new_key_file = tmp_path / "new.pem"
        write_private_key(new_key_file)
        previous = tmp_path / "previous.pem"
        previous.write_bytes(public_pem(signing_key_file))
        rotated = create_auth_app(make_auth_settings(database, new_key_file, jwt_previous_public_keys_file=previous))
        async with running(rotated) as rotated_client:
            endpoint.app = rotated
            new_token = await _login(rotated_client, account.email)
        assert _kid(new_token) != _kid(old_token)
        await asyncio.sleep(0.15)  # past the minimum refetch interval

        # The running resource service meets an unknown kid, refetches, accepts.
        assert (await client.get("/items/", headers=new_token)).status_code == 200
        assert (await client.get("/items/", headers=old_token)).status_code == 200

        # Step 2: once the old key leaves the JWKS, its tokens stop working
        # (after the cached keys expire), and the new ones keep working.
        retired = create_auth_app(make_auth_settings(database, new_key_file))
        async with running(retired):
            endpoint.app = retired
            await asyncio.sleep(0.6)  # past max_age
            refused = await client.get("/items/", headers=old_token)
            assert refused.status_code == 401
            assert refused.json()["detail"] == "The access token was signed by an unknown key."
            assert (await client.get("/items/", headers=new_token)).status_code == 200
    await keys.aclose()


async def test_unknown_kids_cannot_make_it_hammer_the_auth_service(
    database: Database, auth_app: FastAPI, account: Account
) -> None:
    endpoint = AuthEndpoint(auth_app)
    keys = jwks_from(endpoint, max_age=300, min_refetch_interval=60)
    resource = create_app(make_resource_settings(database), key_source=keys)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    async with running(resource) as client:
        assert (await client.get("/items/", headers=account.headers)).status_code == 200
        for _ in range(20):
            forged = jwt.encode(
                claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": uuid.uuid4().hex}
            )
            response = await client.get("/items/", headers={"Authorization": f"Bearer {forged}"})
            assert response.status_code == 401
    assert endpoint.requests == 1
    await keys.aclose()


async def test_auth_service_unreachable_at_first_use_is_503(database: Database) -> None:
    async def unreachable(scope: Scope, receive: Receive, send: Send) -> None:
        raise httpx.ConnectError("connection refused")

    keys = jwks_from(unreachable, min_refetch_interval=60)
    resource = create_app(make_resource_settings(database), key_source=keys)
    token = jwt.encode({"sub": "x"}, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "k"})
    async with running(resource) as client:
        response = await client.get("/items/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    await keys.aclose()


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "another-api"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 120},
        {"nbf": int(time.time()) + 600},
        {"sub": "not-a-uuid"},
    ],
)
async def test_bad_claims_are_401(
    client: httpx.AsyncClient, auth_app: FastAPI, account: Account, change: dict[str, object]
) -> None:
    keyring = auth_app.state.keyring
    claims = {**jwt.decode(account.access_token, options={"verify_signature": False}), **change}
    token = jwt.encode(claims, keyring._private_key, algorithm="EdDSA", headers={"kid": keyring.kid})
    response = await client.get("/items/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_small_clock_skew_is_tolerated(client: httpx.AsyncClient, auth_app: FastAPI, account: Account) -> None:
    keyring = auth_app.state.keyring
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    claims.update(nbf=int(time.time()) + 5, iat=int(time.time()) + 5)
    token = jwt.encode(claims, keyring._private_key, algorithm="EdDSA", headers={"kid": keyring.kid})
    assert (await client.get("/items/", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_alg_none_and_hmac_confusion_are_401(
    client: httpx.AsyncClient, auth_app: FastAPI, account: Account
) -> None:
    kid = auth_app.state.keyring.kid
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    jwk = next(key for key in auth_app.state.keyring.jwks["keys"] if key["kid"] == kid)
    hmac = jwt.encode(claims, jwk["x"], algorithm="HS256", headers={"kid": kid})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})  # type: ignore[arg-type]  # no key: alg none
    for token in (hmac, unsigned):
        assert (await client.get("/items/", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_static_public_key_file(
    database: Database, signing_key_file: Path, account: Account, tmp_path: Path
) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(public_pem(signing_key_file))
    resource = create_app(make_resource_settings(database, jwks_url=None, jwt_public_key_file=key_file))
    async with running(resource) as client:
        assert (await client.get("/items/", headers=account.headers)).status_code == 200
        claims = jwt.decode(account.access_token, options={"verify_signature": False})
        kid = jwt.get_unverified_header(account.access_token)["kid"]
        forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
        assert (await client.get("/items/", headers={"Authorization": f"Bearer {forged}"})).status_code == 401


def test_settings_need_a_key_source(database: Database) -> None:
    with pytest.raises(ValidationError, match="JWKS_URL"):
        ResourceSettings(environment="test", **database.settings_kwargs("resource_svc", "x"))
    assert ResourceSettings(environment="test", jwks_url=JWKS_URL).jwks_min_refetch_seconds == 10


def test_unreadable_public_key_file_is_a_configuration_error(database: Database, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    for path in (junk, tmp_path / "missing.pem"):
        with pytest.raises(ConfigurationError, match="JWT_PUBLIC_KEY_FILE"):
            create_app(make_resource_settings(database, jwks_url=None, jwt_public_key_file=path))


async def test_an_ended_session_is_refused_here_too(
    client: httpx.AsyncClient, auth_client: httpx.AsyncClient, account: Account
) -> None:
    """Logout reaches the resource service: it reads the session (and only
    that) from the shared database."""
    assert (await client.get("/items/", headers=account.headers)).status_code == 200
    assert (await auth_client.post("/auth/logout", json={"refresh_token": account.refresh_token})).status_code == 204
    refused = await client.get("/items/", headers=account.headers)
    assert refused.status_code == 401 and "session has ended" in refused.json()["detail"]


async def test_a_token_of_another_type_is_refused(
    client: httpx.AsyncClient, auth_app: FastAPI, account: Account
) -> None:
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    keyring = auth_app.state.keyring
    retyped = jwt.encode(claims, keyring._private_key, algorithm="EdDSA", headers={"kid": keyring.kid, "typ": "id+jwt"})
    refused = await client.get("/items/", headers={"Authorization": f"Bearer {retyped}"})
    assert refused.status_code == 401 and refused.json()["detail"] == "The token is not an access token."
