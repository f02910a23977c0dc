import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from auth_service.metrics import PASSWORD_REHASHES
from auth_service.passwords import PasswordHasher, context_words, refuse_weak
from auth_service.sessions.repository import SessionRepository
from auth_service.users import identities
from auth_service.users.models import User
from auth_service.users.repository import UserRepository
from auth_service.users.schemas import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, PasswordChange, UserCreate
from servicekit.errors import Conflict, Forbidden, Unauthorized

INVALID_CREDENTIALS = "Incorrect email or password."


class EmailTaken(Conflict):
    default_detail = "An account with this email or username already exists."


def account_name(email: str) -> str:
    """What the per-account rate limits count by: the address's comparison
    key, so look-alike spellings share one counter (the text itself when no
    account could have a key for it)."""
    try:
        return identities.email_key(email)
    except identities.IdentityRefused:
        return email


async def register(users: UserRepository, hasher: PasswordHasher, data: UserCreate) -> User:
    await refuse_weak(data.password, context_words(data.email, data.username))
    # UserCreate admitted only identities that have keys.
    email_key = identities.email_key(data.email)
    username_key = identities.username_key(data.username) if data.username is not None else None
    if await users.taken(email_key, username_key):
        raise EmailTaken()
    password_hash = await hasher.hash(data.password)
    user = User(
        email=data.email,
        email_key=email_key,
        username=data.username,
        username_key=username_key,
        password_hash=password_hash,
    )
    try:
        return await users.add(user)
    except IntegrityError:
        # Lost a race with a concurrent registration of the same identity.
        raise EmailTaken() from None


def _could_be_an_account(email: str, password: str) -> bool:
    """Credentials no account can have (too long, or with NUL bytes, which
    PostgreSQL text cannot hold) are not looked up."""
    return (
        len(email) <= MAX_EMAIL_LENGTH
        and len(password) <= MAX_PASSWORD_LENGTH
        and "\x00" not in email
        and "\x00" not in password
    )


async def authenticate(users: UserRepository, hasher: PasswordHasher, email: str, password: str) -> User:
    """The user, or 401. Unknown emails - and credentials no account can
    have - cost one hash verification too and get the same answer as wrong
    passwords."""
    if not _could_be_an_account(email, password):
        await hasher.verify(password[:MAX_PASSWORD_LENGTH].replace("\x00", ""), None)
        raise Unauthorized(INVALID_CREDENTIALS)
    try:
        email_key: str | None = identities.email_key(email)
    except identities.IdentityRefused:
        email_key = None  # no new account has it; one from before the rules may, spelt exactly
    user = await users.get_for_login(email.lower(), email_key)
    matches, new_hash = await hasher.verify(password, user.password_hash if user else None)
    if user is None or not matches:
        raise Unauthorized(INVALID_CREDENTIALS)
    if new_hash is not None:
        user.password_hash = new_hash  # upgraded from an older scheme or cost
        PASSWORD_REHASHES.inc()
    return user


async def change_password(
    sessions: SessionRepository,
    hasher: PasswordHasher,
    user: User,
    change: PasswordChange,
    keep_session: uuid.UUID | None,
) -> None:
    """Sets a new password once the current one is proven, and ends every
    other login of the account (ASVS 6.2.3, 7.4.3): whoever else knew the old
    password is signed out; the caller stays signed in."""
    matches, _ = await hasher.verify(change.current_password, user.password_hash)
    if not matches:
        raise Forbidden("The current password is incorrect.")
    await refuse_weak(change.new_password, context_words(user.email, user.username), field="new_password")
    user.password_hash = await hasher.hash(change.new_password)
    await sessions.revoke(user.id, datetime.now(UTC), keep=keep_session)
