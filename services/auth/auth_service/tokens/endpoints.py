from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from auth_service.deps import (
    HasherDep,
    KeyringDep,
    LimiterDep,
    RefreshTokensDep,
    SessionsDep,
    SettingsDep,
    UsersDep,
)
from auth_service.metrics import LOGINS, TOKENS_ISSUED
from auth_service.tokens import service
from auth_service.tokens.schemas import RefreshRequest, TokenResponse
from auth_service.users import service as users_service
from servicekit.errors import TooManyRequests, Unauthorized, error_responses
from servicekit.ratelimit import account_key, client_ip

router = APIRouter(tags=["tokens"])

# Token responses must never be cached (RFC 6749 §5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _password_grant(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    users: UsersDep,
    sessions: SessionsDep,
    tokens: RefreshTokensDep,
    hasher: HasherDep,
    keyring: KeyringDep,
    limiter: LimiterDep,
    settings: SettingsDep,
) -> TokenResponse:
    # Every attempt counts against the client's address; only failures count
    # against the account, per address and (much higher) from everywhere, so
    # a stranger guessing from one address cannot keep the owner out.
    address = client_ip(request)
    account = account_key(users_service.account_name(form.username))
    failure_limits = (
        (settings.login_account_rate_limit, "login-failed", account, address),
        (settings.login_account_failure_limit, "login-failed-account", account),
    )
    try:
        await limiter.check(settings.login_rate_limit, "login-ip", address)
        for limit, *identity in failure_limits:
            await limiter.refuse_if_over(limit, *identity)
    except TooManyRequests:
        LOGINS.labels("refused").inc()
        raise
    try:
        user = await users_service.authenticate(users, hasher, form.username, form.password)
    except Unauthorized:
        LOGINS.labels("failure").inc()
        for limit, *identity in failure_limits:
            await limiter.count(limit, *identity)
        raise
    response.headers.update(NO_STORE)
    issued = await service.start(sessions, tokens, keyring, settings, user.id, request.headers.get("user-agent"))
    LOGINS.labels("success").inc()
    TOKENS_ISSUED.labels("password").inc()
    return issued


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
    sessions: SessionsDep,
    tokens: RefreshTokensDep,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Exchange a refresh token for a new access token and a new refresh
    token. Each refresh token works once; replaying one revokes the login.
    A login ends `SESSION_MAX_LIFETIME_SECONDS` after it started, however
    often it is refreshed."""
    response.headers.update(NO_STORE)
    issued = await service.rotate(sessions, tokens, keyring, settings, body.refresh_token)
    TOKENS_ISSUED.labels("refresh_token").inc()
    return issued


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, sessions: SessionsDep, tokens: RefreshTokensDep) -> Response:
    """End the login a refresh token belongs to: its refresh tokens stop
    working at once, its access tokens within seconds."""
    await service.revoke(sessions, tokens, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/.well-known/jwks.json", tags=["keys"])
async def jwks(keyring: KeyringDep, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens (current and recently retired)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return keyring.jwks
