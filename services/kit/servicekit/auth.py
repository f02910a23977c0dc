"""The bearer-token dependency every service uses to authenticate a request."""

import uuid
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from servicekit.db import SessionDep
from servicekit.errors import Unauthorized
from servicekit.state import ServiceState, service_state
from servicekit.tokens import AccessClaims

# Public path of the auth service's token endpoint (through the gateway): it
# drives Swagger UI's "Authorize" button in every service's docs.
TOKEN_URL = "/auth/token"  # noqa: S105 - a path, not a secret

bearer_token = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def access_claims(
    request: Request, token: Annotated[str | None, Depends(bearer_token)], db: SessionDep
) -> AccessClaims:
    """The verified claims of the bearer token, whose login is still active."""
    if not token:
        raise Unauthorized("Not authenticated.")
    state = service_state(request, ServiceState)
    claims = await state.token_verifier.verify(token)
    if claims.session_id is not None:
        try:
            session_id, user_id = uuid.UUID(claims.session_id), uuid.UUID(claims.subject)
        except ValueError:
            raise Unauthorized("The access token is invalid.") from None
        if not await state.sessions.is_active(db, session_id, user_id):
            raise Unauthorized("The session has ended; sign in again.")
    # Every later line of this request, its access line included, says whose
    # it is (the request-context middleware clears it for the next request).
    structlog.contextvars.bind_contextvars(user_id=claims.subject)
    return claims


ClaimsDep = Annotated[AccessClaims, Depends(access_claims)]


async def current_user_id(claims: ClaimsDep) -> uuid.UUID:
    """The caller's user id: the access token's subject, trusted as it is.
    Nothing is looked up here; a service that needs the account loads it."""
    try:
        return uuid.UUID(claims.subject)
    except ValueError:
        raise Unauthorized("The access token is invalid.") from None


CurrentUserId = Annotated[uuid.UUID, Depends(current_user_id)]
