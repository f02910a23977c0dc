import uuid
from typing import Annotated

from fastapi import Depends, Request

from auth_service.config import AuthSettings
from auth_service.keyring import Keyring
from auth_service.passwords import PasswordHasher
from auth_service.tokens.repository import RefreshTokenRepository
from auth_service.users.models import User
from auth_service.users.repository import UserRepository
from servicekit.auth import ClaimsDep
from servicekit.db import SessionDep
from servicekit.errors import Unauthorized
from servicekit.ratelimit import RateLimiter


def _settings(request: Request) -> AuthSettings:
    return request.app.state.settings


def _keyring(request: Request) -> Keyring:
    return request.app.state.keyring


def _hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


def _limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


def _users(session: SessionDep) -> UserRepository:
    return UserRepository(session)


def _refresh_tokens(session: SessionDep) -> RefreshTokenRepository:
    return RefreshTokenRepository(session)


SettingsDep = Annotated[AuthSettings, Depends(_settings)]
KeyringDep = Annotated[Keyring, Depends(_keyring)]
HasherDep = Annotated[PasswordHasher, Depends(_hasher)]
LimiterDep = Annotated[RateLimiter, Depends(_limiter)]
UsersDep = Annotated[UserRepository, Depends(_users)]
RefreshTokensDep = Annotated[RefreshTokenRepository, Depends(_refresh_tokens)]


async def _current_user(claims: ClaimsDep, users: UsersDep) -> User:
    try:
        user_id = uuid.UUID(claims.subject)
    except ValueError:
        raise Unauthorized("The access token is invalid.") from None
    user = await users.get(user_id)
    if user is None:
        raise Unauthorized("The account no longer exists.")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]
