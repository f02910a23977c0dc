"""JWT access-token verification, shared by every service that accepts tokens.

The algorithm comes from the key the `kid` names, never from the token
header, so `alg: none` and algorithm-confusion tokens are rejected; and only
keys of the algorithms we sign with are indexed, so even a JWKS carrying a
shared-secret (`oct`) key could not make us accept HS256. Keys come either
from a fixed set (the auth service's own keys, or a public key file) or from
a JWKS URL, cached and refetched when a token names an unknown `kid`.

Access tokens are typed `at+jwt` (RFC 9068 §2.1) and a token of any other
type is refused (RFC 8725 §3.11), so no other JWT signed by the same key can
pass for one. Tokens typed `JWT`, which releases before the typing issued,
pass only when issued before `legacy_typ_until`: a rolling deploy logs nobody
out, and no new token of the old type is ever accepted.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from prometheus_client import Counter

from servicekit.caching import ExpiringCache
from servicekit.errors import ServiceUnavailable, Unauthorized
from servicekit.keys import SIGNING_ALGORITHMS, PublicKey, public_jwk
from servicekit.logs import get_logger
from servicekit.settings import ServiceSettings

log = get_logger(__name__)
JWKS_FETCHES = Counter("jwks_fetches_total", "Fetches of the auth service's JWKS, by result.", ["result"])

REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "jti"]
# The `typ` header of an access token (RFC 9068 §2.1), compared without case;
# the media-type form is accepted too.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
_ACCESS_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}"})
_LEGACY_TYPES = frozenset({"jwt", None})
# A verified token is trusted this long (and never past its expiry), per
# worker, for at most this many tokens.
VERIFIED_TOKEN_SECONDS = 60.0
MAX_VERIFIED_TOKENS = 10_000
# How soon a JWKS that gave no usable key at all is asked again.
NO_KEYS_RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    token_id: str
    expires_at: int
    issued_at: int
    # The login (auth service session) the token belongs to; None only for
    # legacy tokens, which predate sessions.
    session_id: str | None = None


class KeySource(Protocol):
    async def get(self, kid: str) -> jwt.PyJWK | None: ...


def _index(jwks: Any) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document by `kid`; `ValueError` when
    the document is not a JWKS at all."""
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            log.warning("jwks_key_skipped", kid=entry["kid"], reason="unreadable")
            continue
        if key.algorithm_name not in SIGNING_ALGORITHMS:
            log.warning("jwks_key_skipped", kid=entry["kid"], reason="algorithm", algorithm=key.algorithm_name)
            continue
        keys[entry["kid"]] = key
    return keys


class StaticKeys:
    """A fixed set of verification keys."""

    def __init__(self, public_keys: list[PublicKey]) -> None:
        self.jwks = {"keys": [public_jwk(key) for key in public_keys]}
        self._keys = _index(self.jwks)

    async def get(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


class RemoteJWKS:
    """Keys from a JWKS URL: cached for `max_age`, refetched on an unknown `kid`
    at most once per `min_refetch_interval` (so junk `kid`s cannot make us
    hammer the auth service)."""

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 300.0,
        min_refetch_interval: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.min_refetch_interval = min_refetch_interval
        self.client = client or httpx.AsyncClient(timeout=3.0)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys and self._age() < self.max_age:
            return self._keys[kid]
        if self._age() >= self._refetch_interval():
            # A fetch already in flight is waited for (it is bounded by the
            # client's timeout), never skipped: a cold worker answering "keys
            # unavailable" while its first fetch is still on the way is a 503
            # nobody deserved.
            await self.refresh()
        if not self._keys:
            raise ServiceUnavailable("Signing keys are unavailable; try again shortly.")
        return self._keys.get(kid)

    def _age(self) -> float:
        return time.monotonic() - self._fetched_at

    def _refetch_interval(self) -> float:
        # With no keys at all nothing can be verified: try again sooner.
        return self.min_refetch_interval if self._keys else min(self.min_refetch_interval, NO_KEYS_RETRY_SECONDS)

    async def refresh(self) -> bool:
        """Fetch the JWKS unless another request just did (then wait for
        that fetch); whether any keys are known afterwards. The workers call
        it at start-up, so they hold the keys before they serve."""
        async with self._lock:
            if self._age() < self._refetch_interval():
                return bool(self._keys)  # fetched while we waited
            try:
                response = await self.client.get(self.url)
                response.raise_for_status()
                self._keys = _index(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                # Keep the keys we had: the auth service being briefly away must
                # not log everybody out.
                log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__)
                JWKS_FETCHES.labels("failure").inc()
            else:
                log.info("jwks_fetched", url=self.url, kids=sorted(self._keys))
                JWKS_FETCHES.labels("success").inc()
            finally:
                # Stamped when the fetch is over, not when it starts: requests
                # arriving meanwhile queue on the lock instead of skipping it.
                self._fetched_at = time.monotonic()
            return bool(self._keys)

    async def aclose(self) -> None:
        await self.client.aclose()


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: int = 30,
        legacy_typ_until: int | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.legacy_typ_until = legacy_typ_until
        # Tokens whose signature and claims were checked, and until when that
        # answer holds (monotonic). Clients send one token many times; the
        # EdDSA check was ~8 % of a worker's time per request.
        self._verified: ExpiringCache[str, tuple[AccessClaims, str]] = ExpiringCache(MAX_VERIFIED_TOKENS)

    @classmethod
    def for_settings(cls, keys: KeySource, settings: ServiceSettings) -> "TokenVerifier":
        until = settings.jwt_legacy_typ_until
        return cls(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            legacy_typ_until=int(until.timestamp()) if until else None,
        )

    async def verify(self, token: str) -> AccessClaims:
        """The token's claims, or 401. A token verified within the last
        `VERIFIED_TOKEN_SECONDS` is not checked again: only its expiry, and
        that its signing key is still known (a key retired from the JWKS
        stops its tokens as before). Failures are never remembered."""
        cached = self._verified.get(token)
        if cached is not None:
            claims, kid = cached
            if time.time() < claims.expires_at + self.leeway and await self.keys.get(kid) is not None:
                return claims
            self._verified.pop(token)
        claims, kid = await self._verify(token)
        self._verified.put(token, (claims, kid), VERIFIED_TOKEN_SECONDS)
        return claims

    async def _verify(self, token: str) -> tuple[AccessClaims, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The access token is malformed.") from None
        kid, typ = header.get("kid"), header.get("typ")
        typ = typ.lower() if isinstance(typ, str) else typ
        legacy = typ in _LEGACY_TYPES
        if not legacy and typ not in _ACCESS_TOKEN_TYPES:
            raise Unauthorized("The token is not an access token.")
        if not isinstance(kid, str):
            raise Unauthorized("The access token names no signing key.")
        key = await self.keys.get(kid)
        if key is None:
            raise Unauthorized("The access token was signed by an unknown key.")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS if legacy else [*REQUIRED_CLAIMS, "sid"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The access token has expired.") from None
        except jwt.PyJWTError:
            raise Unauthorized("The access token is invalid.") from None
        if legacy and (self.legacy_typ_until is None or int(claims["iat"]) >= self.legacy_typ_until):
            raise Unauthorized("The token is not an access token.")
        verified = AccessClaims(
            subject=str(claims["sub"]),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            issued_at=int(claims["iat"]),
            session_id=None if legacy else str(claims["sid"]),
        )
        return verified, kid
