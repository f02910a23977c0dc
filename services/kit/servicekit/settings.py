import importlib.util
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from limits import parse
from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRETS_DIR = Path("/run/secrets")

# Values that ship in examples and docs; production refuses to run with them.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "password", "postgres", "secret", "dev"})

# Access tokens typed `JWT` (before the `at+jwt` typing) issued before this
# moment are still accepted: it covers rolling out the release that typed
# them. JWT_LEGACY_TYP_UNTIL moves it; a past date refuses them at once.
LEGACY_TYP_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)


def installed_migrations() -> Path:
    """The folder of the installed `migrations` package, found without
    importing it (it imports every service's models)."""
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("the migrations package is not installed; set MIGRATIONS_DIR")
    return Path(next(iter(spec.submodule_search_locations)))


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TEST = "test"


class ConfigurationError(ValueError):
    """Raised at start-up when settings are unsafe or incomplete."""


def _rate_limit(value: str) -> str:
    parse(value)  # "20/minute", "5 per second"...: a typo fails at start-up, not at the first request
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


def _is_redis(uri: str) -> bool:
    """redis://, rediss://, redis+unix://, redis+sentinel://, valkey://..."""
    return urlsplit(uri).scheme.startswith(("redis", "valkey"))


# What the limiter does while its shared storage is away (servicekit.ratelimit).
RateLimitFallback = Literal["memory", "open"]


class ServiceSettings(BaseSettings):
    """Settings every service has. Read from the environment (UPPER_CASE names)
    and from secret files in /run/secrets (lower-case names)."""

    model_config = SettingsConfigDict(
        secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None,
        extra="ignore",
        case_sensitive=False,
        # A refusal at start-up must not print what it was given: the
        # secrets are among the inputs.
        hide_input_in_errors=True,
    )

    environment: Environment = Environment.PRODUCTION
    service_name: str = "service"

    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "app"
    db_user: str = "app"
    db_password: SecretStr = SecretStr("")
    # Connections per worker process: workers x (pool + overflow) x services
    # must stay below PostgreSQL's max_connections (see README).
    # Sized to a worker's concurrency, with no overflow: an overflow
    # connection is opened for one request and closed after it, a connect
    # and an authentication each time under load; waiting for a pooled one
    # is cheaper.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=10_000, ge=0)
    # The pool's circuit breaker (servicekit.db.create_engine): open after this
    # many failed connection attempts in a row, refusing new connections at
    # once for this long, then probing in the background (a connection
    # opened and closed) until one succeeds.
    db_breaker_failures: int = Field(default=1, ge=1)
    db_breaker_open_seconds: float = Field(default=1.0, gt=0)
    health_timeout: float = Field(default=2.0, gt=0)
    # The installed migration history, whose head readiness compares with the
    # database's revision.
    migrations_dir: Path = Field(default_factory=installed_migrations)

    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    rate_limit_enabled: bool = True
    rate_limit_storage_uri: str = "memory://"
    # Off unless set: a request whose X-RateLimit-Exempt header carries this
    # secret (32+ characters) meets no application limit. For `make bench`.
    rate_limit_exempt_secret: SecretStr = SecretStr("")
    # Redis's password, apart from the URI (REDIS_PASSWORD or the
    # redis_password secret file): the URI can then be shown and logged.
    redis_password: SecretStr = SecretStr("")
    # Redis is optional at run time (servicekit.ratelimit): each call waits at
    # most this long; once one failed, none is tried while a background PING
    # probes every open period; meanwhile limits are counted per process
    # (`memory`) or not at all (`open`).
    rate_limit_storage_timeout: float = Field(default=0.1, gt=0)
    rate_limit_breaker_open_seconds: float = Field(default=1.0, gt=0)
    rate_limit_storage_fallback: RateLimitFallback = "memory"
    # False where the process never counts rate limits (the migration job):
    # its Redis settings are not checked.
    uses_rate_limit_storage: ClassVar[bool] = True

    jwt_issuer: str = "http://auth.local"
    jwt_audience: str = "api"
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    jwt_legacy_typ_until: datetime | None = LEGACY_TYP_UNTIL
    # How long a verifier trusts that a token's session is active while it
    # does not hear of ended sessions (see servicekit.sessions): the most a
    # revoked session (logout, sign-out everywhere, a password change) keeps
    # working then. 0 asks the database for every request.
    session_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # How long while it does: each worker LISTENs for ended sessions on a
    # connection of its own and forgets their answers at once. 0: no
    # listening, `session_cache_seconds` always.
    session_cache_listening_seconds: float = Field(default=300.0, ge=0, le=3600)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def rate_limit_storage_options(self) -> dict[str, str | float]:
        """Keyword arguments for the limiter's storage (the Redis client's)."""
        if not _is_redis(self.rate_limit_storage_uri):
            return {}
        timeout = self.rate_limit_storage_timeout
        options: dict[str, str | float] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        password = self.redis_password.get_secret_value()
        return options | ({"password": password} if password else {})

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "ServiceSettings":
        if self.is_production:
            if self.db_password.get_secret_value() in PLACEHOLDER_SECRETS:
                raise ConfigurationError(
                    "DB_PASSWORD is missing or a placeholder; set it (or the db_password "
                    "secret file) before starting in production mode"
                )
        if self.uses_rate_limit_storage:
            self._check_redis_password()
        if 0 < len(self.rate_limit_exempt_secret.get_secret_value()) < 32:
            raise ConfigurationError("RATE_LIMIT_EXEMPT_SECRET must be at least 32 characters (or unset)")
        return self

    def _check_redis_password(self) -> None:
        uri, password = self.rate_limit_storage_uri, self.redis_password.get_secret_value()
        if not _is_redis(uri):
            return
        in_uri = urlsplit(uri).password
        if in_uri and password:
            # The client would silently take the URI's and ignore the other.
            raise ConfigurationError(
                "Redis's password is both in RATE_LIMIT_STORAGE_URI and in REDIS_PASSWORD; give it once"
            )
        # Anything on the backend network could otherwise reset every limit.
        if self.is_production and (in_uri or password) in PLACEHOLDER_SECRETS:
            raise ConfigurationError(
                "RATE_LIMIT_STORAGE_URI names a Redis but REDIS_PASSWORD (or the redis_password secret file) "
                "is missing or a placeholder; set it before starting in production mode"
            )
