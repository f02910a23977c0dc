from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from auth_service.deps import HasherDep, KeyringDep, LimiterDep, RefreshTokensDep, SettingsDep, UsersDep
from auth_service.tokens import service
from auth_service.tokens.schemas import RefreshRequest, TokenResponse
from auth_service.users import service as users_service
from servicekit.errors import TooManyRequests, Unauthorized, error_responses

router = APIRouter(tags=["tokens"])

# Token responses must never be cached (RFC 6749 §5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _password_grant(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    users: UsersDep,
    tokens: RefreshTokensDep,
    hasher: HasherDep,
    keyring: KeyringDep,
    limiter: LimiterDep,
    settings: SettingsDep,
) -> TokenResponse:
    limiter.check_client_and_account(
        "login",
        request,
        users_service.account_name(form.username),
        per_client=settings.login_rate_limit,
        per_account=settings.login_account_rate_limit,
    )
    user = await users_service.authenticate(users, hasher, form.username, form.password)
    response.headers.update(NO_STORE)
    return await service.issue(tokens, keyring, user.id, settings.refresh_token_ttl_seconds)


_LOGIN_DOC = """OAuth2 password flow: form fields `username` (the email) and `password`.
Returns a short-lived access token (JWT) and a refresh token.

The email may be spelt in any way that compares equal to the account's (case,
full-width forms, Unicode normalisation: RFC 8265, as at registration)."""

for path, name in (("/auth/token", "token"), ("/auth/login", "login")):
    router.add_api_route(
        path,
        _password_grant,
        methods=["POST"],
        response_model=TokenResponse,
        responses=error_responses(Unauthorized, TooManyRequests),
        description=_LOGIN_DOC,
        name=name,
    )


@router.post("/auth/refresh", responses=error_responses(Unauthorized))
async def refresh(
    body: RefreshRequest,
    response: Response,
    tokens: RefreshTokensDep,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Exchange a refresh token for a new access token and a new refresh
    token. Each refresh token works once; replaying one revokes the login."""
    response.headers.update(NO_STORE)
    return await service.rotate(tokens, keyring, body.refresh_token, settings.refresh_token_ttl_seconds)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, tokens: RefreshTokensDep) -> Response:
    """Revoke a refresh token and every token rotated from the same login."""
    await service.revoke(tokens, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/.well-known/jwks.json", tags=["keys"])
async def jwks(keyring: KeyringDep, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens (current and recently retired)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return keyring.jwks
