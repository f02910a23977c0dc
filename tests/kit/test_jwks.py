"""What the shared verifier takes from a JWKS document: only asymmetric
signing keys of the allowed algorithms, and nothing at all from junk."""

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.types import Receive, Scope, Send

from servicekit.errors import ServiceUnavailable, Unauthorized
from servicekit.keys import public_jwk
from servicekit.tokens import NO_KEYS_RETRY_SECONDS, RemoteJWKS, TokenVerifier

ISSUER, AUDIENCE = "http://auth.test", "api"


def serving(document: Any):
    """An ASGI app answering every request with `document` as JSON."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps(document).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


def remote(document: Any) -> RemoteJWKS:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=serving(document)))
    return RemoteJWKS("http://auth.test/.well-known/jwks.json", client=client, min_refetch_interval=0)


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }


async def test_an_hmac_key_in_the_jwks_is_never_used() -> None:
    secret = "shared-secret-that-must-not-verify-anything"
    encoded = jwt.utils.base64url_encode(secret.encode()).decode()
    oct_key = {"kty": "oct", "kid": "hmac", "use": "sig", "alg": "HS256", "k": encoded}
    signer = Ed25519PrivateKey.generate()
    good = public_jwk(signer.public_key())
    keys = remote({"keys": [oct_key, good]})
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)

    forged = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "hmac"})
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(forged)
    genuine = jwt.encode(claims(), signer, algorithm="EdDSA", headers={"kid": good["kid"], "typ": "at+jwt"})
    assert (await verifier.verify(genuine)).token_id == "j"
    await keys.aclose()


@pytest.mark.parametrize(
    "document",
    [[], "keys", {"keys": "nope"}, {"keys": [1, None, "x", {"kid": 5}, {"kid": "k", "kty": "RSA"}]}, {}],
)
async def test_a_junk_jwks_is_unavailable_not_a_crash(document: Any) -> None:
    keys = remote(document)
    with pytest.raises(ServiceUnavailable):
        await keys.get("any-kid")
    await keys.aclose()


async def test_requests_meeting_a_fetch_in_flight_wait_for_it() -> None:
    """A cold worker: many requests arrive while the first JWKS fetch is on
    its way. They all wait for it (one fetch) instead of answering 503."""
    signer = Ed25519PrivateKey.generate()
    jwk = public_jwk(signer.public_key())
    fetches = 0

    async def slow_jwks(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.2)
        await serving({"keys": [jwk]})(scope, receive, send)

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=slow_jwks))
    keys = RemoteJWKS("http://auth.test/.well-known/jwks.json", client=client, min_refetch_interval=10)
    found = await asyncio.gather(*(keys.get(jwk["kid"]) for _ in range(10)))
    assert all(key is not None and key.key_id == jwk["kid"] for key in found)
    assert fetches == 1
    await keys.aclose()


async def test_with_no_keys_at_all_the_jwks_is_asked_again_soon() -> None:
    """The auth service was away at the first fetch: within about a second the
    next request tries again, rather than waiting out the refetch interval."""
    signer = Ed25519PrivateKey.generate()
    jwk = public_jwk(signer.public_key())
    available = False

    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        if not available:
            raise httpx.ConnectError("connection refused")
        await serving({"keys": [jwk]})(scope, receive, send)

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=flaky))
    keys = RemoteJWKS("http://auth.test/.well-known/jwks.json", client=client, min_refetch_interval=60)
    assert await keys.refresh() is False
    with pytest.raises(ServiceUnavailable):
        await keys.get(jwk["kid"])  # within the retry interval: not asked again
    available = True
    await asyncio.sleep(NO_KEYS_RETRY_SECONDS + 0.05)
    assert (await keys.get(jwk["kid"])) is not None
    await keys.aclose()
