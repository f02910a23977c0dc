"""What a service keeps on `app.state`, typed.

Starlette's `app.state` is an untyped bag of attributes. Every service's app
holds a `ServiceState` there instead, or a subclass adding what that service
alone keeps (auth: its keyring and password hasher). It is still a `State`, so
the attributes keep their names (`app.state.settings`), but each one is
declared once, with its type. Code reaches them the same way in every
service: `service_state(request, ServiceState).limiter`.
"""

from typing import TYPE_CHECKING, ClassVar, TypeVar

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from servicekit.breaker import CircuitBreaker
from servicekit.ratelimit import RateLimiter, limiter_for
from servicekit.sessions import ActiveSessions
from servicekit.settings import ServiceSettings
from servicekit.tokens import TokenVerifier

if TYPE_CHECKING:  # the probe's routes read this state: no import cycle at run time
    from servicekit.health import HealthProbe


class ServiceState(State):
    settings: ServiceSettings
    token_verifier: TokenVerifier
    limiter: RateLimiter
    sessions: ActiveSessions
    # Set when the app starts (`create_service_app`): both need the engine.
    sessionmaker: async_sessionmaker[AsyncSession]
    # Sessions whose statements each commit on their own, no transaction
    # around them: for reads (GET, HEAD), and for writes too where
    # `autocommit_writes` (see servicekit.db.get_session).
    autocommit: async_sessionmaker[AsyncSession]
    health: "HealthProbe"
    # The circuit breaker on the pool's new connections (servicekit.db.create_engine).
    database_breaker: CircuitBreaker
    # True for a service whose every write is one statement (or a read of a
    # row's version followed by one statement conditional on it): a
    # transaction around it would only add a BEGIN and a COMMIT round trip.
    autocommit_writes: ClassVar[bool] = False

    def __init__(self, settings: ServiceSettings, token_verifier: TokenVerifier) -> None:
        super().__init__()
        self.settings = settings
        self.token_verifier = token_verifier
        self.limiter = RateLimiter(
            settings.rate_limit_storage_uri,
            enabled=settings.rate_limit_enabled,
            storage_options=settings.rate_limit_storage_options,
            exempt_secret=settings.rate_limit_exempt_secret.get_secret_value() or None,
            fallback=settings.rate_limit_storage_fallback,
            breaker_open_seconds=settings.rate_limit_breaker_open_seconds,
        )
        self.sessions = ActiveSessions(
            settings.session_cache_seconds, listening_seconds=settings.session_cache_listening_seconds
        )


AnyServiceState = TypeVar("AnyServiceState", bound=ServiceState)


def service_state(request: Request, kind: type[AnyServiceState]) -> AnyServiceState:
    """The app's state, as the `ServiceState` (sub)class `kind` its service built it with."""
    state = request.app.state
    assert isinstance(state, kind), f"app.state is a {type(state).__name__}, not a {kind.__name__}"
    return state


def request_limiter(request: Request) -> RateLimiter:
    """The app's rate limiter for this request (one that limits nothing when
    the request carries the exemption secret)."""
    return limiter_for(request, service_state(request, ServiceState).limiter)
