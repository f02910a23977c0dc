"""Password hashing: argon2id by default, bcrypt still verified and upgraded.

libpass is the maintained fork of passlib (same `passlib` import name and
CryptContext API); stock passlib 1.7.4 breaks with bcrypt >= 5. Hashing runs
in worker threads, at most `concurrency` at a time per process, so it never
blocks the event loop and a login flood cannot exhaust memory. New
passwords must not be easy to guess (`refuse_weak`).
"""

import re
import secrets

import anyio
from fastapi.exceptions import RequestValidationError
from passlib.context import CryptContext
from zxcvbn import zxcvbn

from servicekit.logs import get_logger

log = get_logger(__name__)

# OWASP minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
_CONTEXT = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=19_456,
    argon2__rounds=2,
    argon2__parallelism=1,
)


class PasswordHasher:
    def __init__(self, concurrency: int) -> None:
        self._limiter = anyio.CapacityLimiter(concurrency)
        # Verified against when the account does not exist, so an unknown
        # email costs the same as a wrong password.
        self._dummy_hash = _CONTEXT.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(_CONTEXT.hash, password, limiter=self._limiter)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, a new hash to store if the old one is outdated). A
        password the scheme cannot take (bcrypt refuses NUL bytes and more
        than 72 bytes) simply does not match."""
        if password_hash is None:
            await anyio.to_thread.run_sync(_CONTEXT.verify, password, self._dummy_hash, limiter=self._limiter)
            return False, None
        try:
            return await anyio.to_thread.run_sync(
                _CONTEXT.verify_and_update, password, password_hash, limiter=self._limiter
            )
        except ValueError as exc:  # passlib's PasswordValueError, PasswordSizeError, bcrypt's own
            log.info("password_not_verifiable", error=type(exc).__name__)
            return False, None


# zxcvbn's scale: 3 is "safely unguessable: moderate protection from an
# offline slow-hash scenario", the usual floor for new passwords.
MIN_STRENGTH = 3
# zxcvbn refuses longer input; its cost grows with the length, and a password
# whose first 72 characters are guessable is no better for what follows.
_ESTIMATED_LENGTH = 72


def _weakness(password: str, context: list[str]) -> str | None:
    estimate = zxcvbn(password[:_ESTIMATED_LENGTH], user_inputs=context)
    if estimate["score"] >= MIN_STRENGTH:
        return None
    feedback = estimate["feedback"]
    advice = " ".join(part for part in [feedback["warning"], *feedback["suggestions"]] if part)
    return f"The password is too easy to guess. {advice or 'Add another word or two.'}".strip()


def context_words(email: str, username: str | None) -> list[str]:
    """What a guesser tries first for this account: the email, its parts,
    the username."""
    local, _, domain = email.partition("@")
    words = [email, local, domain, *re.split(r"[._+\-]+", local)]
    if username:
        words.append(username)
    return [word for word in words if word]


async def refuse_weak(password: str, context: list[str], *, field: str = "password") -> None:
    """A 422 naming `field` when the password is common or made of the
    account's own details (ASVS 6.2.4, 6.2.11); estimated by zxcvbn, which
    ships its word lists, in a worker thread (a few ms of CPU)."""
    weakness = await anyio.to_thread.run_sync(_weakness, password, context)
    if weakness is not None:
        raise RequestValidationError([{"loc": ("body", field), "msg": weakness, "type": "weak_password"}])
