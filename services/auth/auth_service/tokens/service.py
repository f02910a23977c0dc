import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from auth_service.config import AuthSettings
from auth_service.keyring import Keyring
from auth_service.metrics import REFRESH_TOKEN_REUSE
from auth_service.sessions.models import UserSession
from auth_service.sessions.repository import SessionRepository
from auth_service.tokens.models import RefreshToken
from auth_service.tokens.repository import RefreshTokenRepository
from auth_service.tokens.schemas import TokenResponse
from servicekit.errors import Unauthorized
from servicekit.logs import get_logger

log = get_logger(__name__)

INVALID_REFRESH_TOKEN = "The refresh token is invalid, expired or revoked."  # noqa: S105 - a message


def _digest(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


async def start(
    sessions: SessionRepository,
    tokens: RefreshTokenRepository,
    keyring: Keyring,
    settings: AuthSettings,
    user_id: uuid.UUID,
    user_agent: str | None,
) -> TokenResponse:
    """A new login (session) for the user, and its first pair of tokens."""
    now = datetime.now(UTC)
    login = await sessions.add(
        UserSession(
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=settings.session_max_lifetime_seconds),
            user_agent=user_agent[:200] if user_agent else None,
        )
    )
    return await _issue(tokens, keyring, login, settings.refresh_token_ttl_seconds, now)


async def _issue(
    tokens: RefreshTokenRepository, keyring: Keyring, login: UserSession, refresh_ttl: int, now: datetime
) -> TokenResponse:
    raw_refresh = secrets.token_urlsafe(32)
    await tokens.add(
        RefreshToken(
            user_id=login.user_id,
            family_id=login.id,
            token_hash=_digest(raw_refresh),
            # Never past the login's absolute end, however often it is refreshed.
            expires_at=min(now + timedelta(seconds=refresh_ttl), login.expires_at),
        )
    )
    return TokenResponse(
        access_token=keyring.issue_access_token(str(login.user_id), str(login.id)),
        expires_in=keyring.access_ttl,
        refresh_token=raw_refresh,
    )


async def rotate(
    sessions: SessionRepository,
    tokens: RefreshTokenRepository,
    keyring: Keyring,
    settings: AuthSettings,
    raw_refresh: str,
) -> TokenResponse:
    """Exchanges a refresh token for a new pair. A token presented a second
    time means it leaked: its whole login is revoked."""
    now = datetime.now(UTC)
    current = await tokens.get_for_update(_digest(raw_refresh))
    login = await sessions.get_for_update(current.family_id) if current else None
    if current is None or login is None or current.expires_at <= now or not _active(login, now):
        raise Unauthorized(INVALID_REFRESH_TOKEN)
    if current.used_at is not None:
        login.revoked_at = now
        # The revocation must outlive this failing request, whose transaction
        # the session dependency will roll back: the one place a service
        # commits, named in servicekit.db's docstring.
        await tokens.session.commit()
        log.warning("refresh_token_reuse", session_id=str(login.id), user_id=str(login.user_id))
        REFRESH_TOKEN_REUSE.inc()
        raise Unauthorized("The refresh token was already used; every session of this login is revoked.")
    current.used_at = now
    login.last_used_at = now
    return await _issue(tokens, keyring, login, settings.refresh_token_ttl_seconds, now)


def _active(login: UserSession, now: datetime) -> bool:
    return login.revoked_at is None and login.expires_at > now


async def revoke(sessions: SessionRepository, tokens: RefreshTokenRepository, raw_refresh: str) -> None:
    """Ends the login the refresh token belongs to (a logout)."""
    current = await tokens.get_for_update(_digest(raw_refresh))
    if current is not None:
        await sessions.revoke(current.user_id, datetime.now(UTC), only=current.family_id)
