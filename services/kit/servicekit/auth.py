"""The bearer-token dependency every service uses to authenticate a request."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from servicekit.errors import Unauthorized
from servicekit.tokens import AccessClaims, TokenVerifier

# Public path of the auth service's token endpoint (through the gateway): it
# drives Swagger UI's "Authorize" button in every service's docs.
TOKEN_URL = "/auth/token"  # noqa: S105 - a path, not a secret

bearer_token = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def access_claims(request: Request, token: Annotated[str | None, Depends(bearer_token)]) -> AccessClaims:
    if not token:
        raise Unauthorized("Not authenticated.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(token)


ClaimsDep = Annotated[AccessClaims, Depends(access_claims)]
