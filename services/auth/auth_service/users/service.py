from sqlalchemy.exc import IntegrityError

from auth_service.passwords import PasswordHasher
from auth_service.users.models import User
from auth_service.users.repository import UserRepository
from auth_service.users.schemas import UserCreate
from servicekit.errors import Conflict, Unauthorized

INVALID_CREDENTIALS = "Incorrect email or password."


class EmailTaken(Conflict):
    default_detail = "An account with this email or username already exists."


async def register(users: UserRepository, hasher: PasswordHasher, data: UserCreate) -> User:
    if await users.taken(data.email, data.username):
        raise EmailTaken()
    password_hash = await hasher.hash(data.password)
    try:
        return await users.add(User(email=data.email, username=data.username, password_hash=password_hash))
    except IntegrityError:
        # Lost a race with a concurrent registration of the same address.
        raise EmailTaken() from None


async def authenticate(users: UserRepository, hasher: PasswordHasher, email: str, password: str) -> User:
    """The user, or 401. Unknown emails cost one hash verification too and
    get the same answer as wrong passwords."""
    user = await users.get_by_email(email)
    matches, new_hash = await hasher.verify(password, user.password_hash if user else None)
    if user is None or not matches:
        raise Unauthorized(INVALID_CREDENTIALS)
    if new_hash is not None:
        user.password_hash = new_hash  # upgraded from an older scheme or cost
    return user
