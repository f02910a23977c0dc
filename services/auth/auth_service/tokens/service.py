import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from auth_service.keyring import Keyring
from auth_service.tokens.models import RefreshToken
from auth_service.tokens.repository import RefreshTokenRepository
from auth_service.tokens.schemas import TokenResponse
from servicekit.errors import Unauthorized
from servicekit.logs import get_logger

log = get_logger(__name__)


def _digest(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


async def issue(
    tokens: RefreshTokenRepository,
    keyring: Keyring,
    user_id: uuid.UUID,
    refresh_ttl: int,
    family_id: uuid.UUID | None = None,
) -> TokenResponse:
    raw_refresh = secrets.token_urlsafe(32)
    await tokens.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id or uuid.uuid4(),
            token_hash=_digest(raw_refresh),
            expires_at=datetime.now(UTC) + timedelta(seconds=refresh_ttl),
        )
    )
    return TokenResponse(
        access_token=keyring.issue_access_token(str(user_id)),
        expires_in=keyring.access_ttl,
        refresh_token=raw_refresh,
    )


async def rotate(tokens: RefreshTokenRepository, keyring: Keyring, raw_refresh: str, refresh_ttl: int) -> TokenResponse:
    """Exchanges a refresh token for a new pair. A token presented a second
    time means it leaked: the whole family is revoked."""
    now = datetime.now(UTC)
    current = await tokens.get_for_update(_digest(raw_refresh))
    if current is None or current.revoked_at is not None or current.expires_at <= now:
        raise Unauthorized("The refresh token is invalid, expired or revoked.")
    if current.used_at is not None:
        await tokens.revoke_family(current.family_id, now)
        # The revocation must outlive this failing request, whose transaction
        # the session dependency will roll back: the one place a service
        # commits, named in servicekit.db's docstring.
        await tokens.session.commit()
        log.warning("refresh_token_reuse", family_id=str(current.family_id), user_id=str(current.user_id))
        raise Unauthorized("The refresh token was already used; every session of this login is revoked.")
    current.used_at = now
    return await issue(tokens, keyring, current.user_id, refresh_ttl, family_id=current.family_id)


async def revoke(tokens: RefreshTokenRepository, raw_refresh: str) -> None:
    current = await tokens.get_for_update(_digest(raw_refresh))
    if current is not None:
        await tokens.revoke_family(current.family_id, datetime.now(UTC))
