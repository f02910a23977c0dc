from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from servicekit.settings import ConfigurationError, RateLimit, ServiceSettings


class AuthSettings(ServiceSettings):
    service_name: str = "auth"

    # The signing key: a PEM private key (Ed25519 or RSA) from the
    # JWT_PRIVATE_KEY variable / `jwt_private_key` secret file, or a path.
    jwt_private_key: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    # Public keys of retired signing keys, still published in the JWKS until
    # every token they signed has expired (zero-downtime rotation).
    jwt_previous_public_keys_file: Path | None = None

    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=3600)
    # A login ends this long after it started, however often it is refreshed
    # (ASVS 7.3.2).
    session_max_lifetime_seconds: int = Field(default=30 * 86_400, ge=3600)

    password_hash_concurrency: int = Field(default=2, ge=1)
    # Attempts per client address; failures per account from one address;
    # failures per account from every address together. The last must stay
    # out of reach of one address (the second), or a stranger who knows an
    # email could keep its owner out (ASVS 6.3.1).
    login_rate_limit: RateLimit = "20/minute"
    login_account_rate_limit: RateLimit = "10/minute"
    login_account_failure_limit: RateLimit = "1000/hour"
    password_change_rate_limit: RateLimit = "5/minute"  # noqa: S105 - a rate, not a secret
    register_rate_limit: RateLimit = "10/minute"
    register_account_rate_limit: RateLimit = "3/minute"

    @cached_property
    def private_key_pem(self) -> bytes | None:
        if self.jwt_private_key is not None and self.jwt_private_key.get_secret_value().strip():
            return self.jwt_private_key.get_secret_value().encode()
        if self.jwt_private_key_file is not None:
            try:
                return self.jwt_private_key_file.read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"JWT_PRIVATE_KEY_FILE cannot be read: {exc.strerror}") from None
        return None

    @model_validator(mode="after")
    def _require_signing_key(self) -> "AuthSettings":
        if self.private_key_pem is None:
            raise ConfigurationError(
                "No signing key: set JWT_PRIVATE_KEY_FILE (or the jwt_private_key secret); "
                "`make keys` generates a development key pair"
            )
        return self
