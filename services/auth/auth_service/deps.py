from typing import Annotated

from fastapi import Depends, Request

from auth_service.config import AuthSettings
from auth_service.keyring import Keyring
from auth_service.passwords import PasswordHasher
from auth_service.sessions.repository import SessionRepository
from auth_service.tokens.repository import RefreshTokenRepository
from auth_service.users.models import User
from auth_service.users.repository import UserRepository
from servicekit.auth import CurrentUserId
from servicekit.db import SessionDep
from servicekit.errors import Unauthorized
from servicekit.ratelimit import RateLimiter
from servicekit.state import ServiceState, request_limiter, service_state


class AuthState(ServiceState):
    """`app.state` of the auth service: what every service keeps, and the
    signing keyring and password hasher."""

    settings: AuthSettings
    keyring: Keyring
    # Set when the app starts.
    hasher: PasswordHasher

    def __init__(self, settings: AuthSettings, keyring: Keyring) -> None:
        super().__init__(settings, keyring.verifier)
        self.keyring = keyring


# Every dependency is `async def`: FastAPI runs a plain `def` one in its
# thread pool, a hand-off per request for nothing.
def _state(request: Request) -> AuthState:
    return service_state(request, AuthState)


async def _settings(request: Request) -> AuthSettings:
    return _state(request).settings


async def _keyring(request: Request) -> Keyring:
    return _state(request).keyring


async def _hasher(request: Request) -> PasswordHasher:
    return _state(request).hasher


async def _limiter(request: Request) -> RateLimiter:
    return request_limiter(request)


async def _users(session: SessionDep) -> UserRepository:
    return UserRepository(session)


async def _refresh_tokens(session: SessionDep) -> RefreshTokenRepository:
    return RefreshTokenRepository(session)


async def _sessions(session: SessionDep) -> SessionRepository:
    return SessionRepository(session)


SettingsDep = Annotated[AuthSettings, Depends(_settings)]
KeyringDep = Annotated[Keyring, Depends(_keyring)]
HasherDep = Annotated[PasswordHasher, Depends(_hasher)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
UsersDep = Annotated[UserRepository, Depends(_users)]
RefreshTokensDep = Annotated[RefreshTokenRepository, Depends(_refresh_tokens)]
SessionsDep = Annotated[SessionRepository, Depends(_sessions)]


async def _current_user(user_id: CurrentUserId, users: UsersDep) -> User:
    user = await users.get(user_id)
    if user is None:
        raise Unauthorized("The account no longer exists.")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]
