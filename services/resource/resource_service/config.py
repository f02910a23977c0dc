from pathlib import Path

from pydantic import Field, model_validator

from servicekit.settings import ConfigurationError, RateLimit, ServiceSettings


class ResourceSettings(ServiceSettings):
    service_name: str = "resource"

    # Where access-token verification keys come from: the auth service's JWKS
    # (the normal case: rotation needs no restart here) or a PEM bundle of
    # public keys. Never a signing secret.
    jwks_url: str | None = None
    jwt_public_key_file: Path | None = None
    # How long fetched keys are trusted before the next refetch, and the least
    # time between two fetches (a token naming an unknown `kid` triggers one).
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    jwks_min_refetch_seconds: float = Field(default=10.0, ge=0)

    # Per account, on the routes that write (reads are limited at the gateway).
    write_rate_limit: RateLimit = "120/minute"
    # Rows one account may keep, per kind (items, bookmarks): one cheap
    # account must not fill the database.
    max_rows_per_user: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _require_key_source(self) -> "ResourceSettings":
        if not self.jwks_url and self.jwt_public_key_file is None:
            raise ConfigurationError(
                "No token verification keys: set JWKS_URL (the auth service's /.well-known/jwks.json) "
                "or JWT_PUBLIC_KEY_FILE"
            )
        return self
