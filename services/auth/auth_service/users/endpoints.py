import uuid

from fastapi import APIRouter, Request, Response, status

from auth_service.deps import CurrentUser, HasherDep, LimiterDep, SessionsDep, SettingsDep, UsersDep
from auth_service.users import service
from auth_service.users.schemas import PasswordChange, UserCreate, UserRead
from servicekit.auth import ClaimsDep
from servicekit.errors import Conflict, Forbidden, TooManyRequests, Unauthorized, error_responses

router = APIRouter(tags=["users"])


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict, TooManyRequests),
)
async def register(
    data: UserCreate,
    request: Request,
    users: UsersDep,
    hasher: HasherDep,
    limiter: LimiterDep,
    settings: SettingsDep,
) -> UserRead:
    """Create an account. The email is the login name; it is stored lower-cased.

    Emails and usernames are compared under RFC 8265 (PRECIS
    `UsernameCaseMapped`: case, full- and half-width forms and Unicode
    normalisation folded; domains as IDNA), so a look-alike of an existing
    account's email or username is a 409. A 422 refuses what such an
    identifier cannot hold: spaces, symbols, invisible characters, a mix of
    scripts (Latin with a Cyrillic `a`), marks that do not join their letter.
    A password that is common or made of the email or username is a 422 too."""
    await limiter.check_client_and_account(
        "register",
        request,
        service.account_name(data.email),
        per_client=settings.register_rate_limit,
        per_account=settings.register_account_rate_limit,
    )
    user = await service.register(users, hasher, data)
    return UserRead.model_validate(user)


@router.get("/users/me", responses=error_responses(Unauthorized))
async def read_me(user: CurrentUser) -> UserRead:
    """The account the access token belongs to."""
    return UserRead.model_validate(user)


@router.delete("/users/me", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(Unauthorized))
async def delete_me(user: CurrentUser, users: UsersDep) -> Response:
    """Delete the account with everything it owns (refresh tokens, items,
    bookmarks). Access tokens already issued stop working."""
    await users.delete(user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, Forbidden, TooManyRequests),
)
async def change_password(
    change: PasswordChange,
    user: CurrentUser,
    claims: ClaimsDep,
    sessions: SessionsDep,
    hasher: HasherDep,
    limiter: LimiterDep,
    settings: SettingsDep,
) -> Response:
    """Change the password: `current_password` must be right (403 otherwise),
    `new_password` must not be easy to guess (422). Every other login of the
    account ends; this one stays signed in."""
    await limiter.check(settings.password_change_rate_limit, "password-change", str(user.id))
    keep = uuid.UUID(claims.session_id) if claims.session_id else None
    await service.change_password(sessions, hasher, user, change, keep)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
