"""Access-token typing (RFC 9068 §2.1, RFC 8725 §3.11): `at+jwt` passes, any
other type is refused, and a `JWT`-typed token from the release before passes
only when issued before the verifier's cut-off."""

import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.errors import Unauthorized
from servicekit.keys import public_jwk
from servicekit.settings import LEGACY_TYP_UNTIL, ServiceSettings
from servicekit.tokens import StaticKeys, TokenVerifier

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
