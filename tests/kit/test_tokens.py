"""Access-token typing (RFC 9068 §2.1, RFC 8725 §3.11): `at+jwt` passes, any
other type is refused, and a `JWT`-typed token from the release before passes
only when issued before the verifier's cut-off."""

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit import tokens as tokens_module
from servicekit.errors import Unauthorized
from servicekit.keys import public_jwk
from servicekit.settings import LEGACY_TYP_UNTIL, ServiceSettings
from servicekit.tokens import VERIFIED_TOKEN_SECONDS, StaticKeys, TokenVerifier

ISSUER, AUDIENCE = "http://auth.test", "api"
SIGNER = Ed25519PrivateKey.generate()
KID = public_jwk(SIGNER.public_key())["kid"]


def token(typ: str | None, *, issued_at: int | None = None, **extra: Any) -> str:
    now = int(time.time()) if issued_at is None else issued_at
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "iat": now, "exp": now + 600, "jti": "j"}
    # PyJWT writes `typ: JWT` unless told otherwise; `None` leaves it out.
    return jwt.encode({**claims, **extra}, SIGNER, algorithm="EdDSA", headers={"kid": KID, "typ": typ})


def verifier(legacy_typ_until: int | None = None) -> TokenVerifier:
    return TokenVerifier(
        StaticKeys([SIGNER.public_key()]), issuer=ISSUER, audience=AUDIENCE, legacy_typ_until=legacy_typ_until
    )


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
async def test_access_tokens_typed_at_jwt_pass_with_their_session(typ: str) -> None:
    session_id = str(uuid.uuid4())
    claims = await verifier().verify(token(typ, sid=session_id))
    assert claims.session_id == session_id


@pytest.mark.parametrize("typ", ["id+jwt", "logout+jwt", "JOSE", "application/jwt", "at+jwt+x"])
async def test_tokens_of_any_other_type_are_refused(typ: str) -> None:
    with pytest.raises(Unauthorized, match="not an access token"):
        await verifier(legacy_typ_until=int(time.time()) + 3600).verify(token(typ, sid="s"))


async def test_an_access_token_without_a_session_is_refused() -> None:
    with pytest.raises(Unauthorized, match="invalid"):
        await verifier().verify(token("at+jwt"))


@pytest.mark.parametrize("typ", ["JWT", "jwt", None])
async def test_legacy_tokens_pass_when_issued_before_the_cut_off(typ: str | None) -> None:
    now = int(time.time())
    claims = await verifier(legacy_typ_until=now + 1).verify(token(typ, issued_at=now))
    assert claims.session_id is None  # legacy tokens predate sessions


@pytest.mark.parametrize("cut_off", [None, "now"])
async def test_legacy_tokens_issued_after_the_cut_off_or_without_one_are_refused(cut_off: str | None) -> None:
    now = int(time.time())
    with pytest.raises(Unauthorized, match="not an access token"):
        await verifier(legacy_typ_until=now if cut_off else None).verify(token("JWT", issued_at=now))


def test_the_cut_off_is_a_setting_that_can_be_switched_off() -> None:
    assert ServiceSettings(environment="test").jwt_legacy_typ_until == LEGACY_TYP_UNTIL
    settings = ServiceSettings(environment="test", jwt_legacy_typ_until=None)
    assert TokenVerifier.for_settings(StaticKeys([]), settings).legacy_typ_until is None


class CountingKeys(StaticKeys):
    """StaticKeys that count how often a key is asked for: once per
    verification that is not served from the verifier's cache."""

    def __init__(self) -> None:
        super().__init__([SIGNER.public_key()])
        self.asked = 0

    async def get(self, kid: str) -> jwt.PyJWK | None:
        self.asked += 1
        return await super().get(kid)


async def test_a_verified_token_is_not_verified_again_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)  # the module servicekit.tokens calls
    keys = CountingKeys()
    checker = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    good = token("at+jwt", sid="s")
    for _ in range(3):
        await checker.verify(good)
    assert len(decoded) == 1  # the signature and claims were checked once
    assert keys.asked == 3  # its key is still asked for each time: a retired key stops it at once
    later = time.monotonic() + VERIFIED_TOKEN_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    await checker.verify(good)
    assert len(decoded) == 2  # checked again once the answer is old


async def test_failures_are_never_cached_and_expiry_still_applies() -> None:
    keys = CountingKeys()
    checker = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway=0)
    now = int(time.time())
    exp = now + 2  # at least a second of validity, whatever the fraction of 'now'
    short = token("at+jwt", sid="s", issued_at=now - 10, exp=exp)
    await checker.verify(short)
    await asyncio.sleep(exp - time.time() + 0.1)  # past its exp: the cached answer does not outlive it
    with pytest.raises(Unauthorized, match="expired"):
        await checker.verify(short)
    forged = short[:-4] + ("AAAA" if not short.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await checker.verify(forged)


async def test_the_cache_of_verified_tokens_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "MAX_VERIFIED_TOKENS", 5)
    checker = TokenVerifier(StaticKeys([SIGNER.public_key()]), issuer=ISSUER, audience=AUDIENCE)
    for n in range(12):
        await checker.verify(token("at+jwt", sid=str(n)))
    assert len(checker._verified) == 5
