"""The auth service's signing key and the public keys it publishes."""

import time
import uuid
from typing import Any

import jwt

from auth_service.config import AuthSettings
from servicekit.keys import algorithm_for, load_private_key, load_public_keys, public_jwk
from servicekit.tokens import ACCESS_TOKEN_TYPE, StaticKeys, TokenVerifier


class Keyring:
    def __init__(self, settings: AuthSettings) -> None:
        assert settings.private_key_pem is not None  # guaranteed by AuthSettings
        self._private_key = load_private_key(settings.private_key_pem)
        self._algorithm = algorithm_for(self._private_key)
        current = self._private_key.public_key()
        previous = (
            load_public_keys(settings.jwt_previous_public_keys_file.read_bytes())
            if settings.jwt_previous_public_keys_file
            else []
        )
        self.kid = public_jwk(current)["kid"]
        self._published = StaticKeys([current, *previous])
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.access_ttl = settings.access_token_ttl_seconds
        self.verifier = TokenVerifier.for_settings(self._published, settings)

    @property
    def jwks(self) -> dict[str, Any]:
        return self._published.jwks

    def issue_access_token(self, subject: str, session_id: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "sid": session_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims, self._private_key, algorithm=self._algorithm, headers={"kid": self.kid, "typ": ACCESS_TOKEN_TYPE}
        )
