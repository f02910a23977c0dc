"""Application rate limits on slowapi's limiter (memory or Redis storage).

Routes call `RateLimiter.check(limit, *identity)` for the limits they need —
per client IP, per account — rather than decorating endpoints, so the limits
come from settings and a storage outage fails open instead of failing requests.
"""

import functools
import hashlib
import math
import time

from fastapi import Request
from limits import parse
from slowapi import Limiter
from slowapi.util import get_remote_address

from servicekit.errors import TooManyRequests
from servicekit.logs import get_logger

log = get_logger(__name__)

# Limits come from settings (validated at start-up): parse each string once.
_parse_limit = functools.cache(parse)


def client_ip(request: Request) -> str:
    """The peer address, which uvicorn's proxy-headers support replaces with
    the forwarded client address only when the peer is a trusted gateway."""
    return get_remote_address(request)


def account_key(identifier: str) -> str:
    """Accounts are limited by a digest, so the store never holds emails.
    Callers pass the name their domain compares accounts by (the auth
    service: the email's comparison key), so look-alike spellings of one
    account share one counter; the lower-casing here only covers the rest."""
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(
        self, storage_uri: str, *, enabled: bool = True, storage_options: dict[str, str] | None = None
    ) -> None:
        # A Redis password travels in `storage_options`, never in the URI.
        self._slowapi = Limiter(
            key_func=client_ip,
            storage_uri=storage_uri,
            storage_options=dict(storage_options or {}),
            enabled=enabled,
            strategy="moving-window",
        )

    def check(self, limit: str, *identity: str) -> None:
        """Count one hit against `limit` for `identity`; raise 429 when over."""
        self._guarded(limit, identity, count=True)

    def refuse_if_over(self, limit: str, *identity: str) -> None:
        """Raise 429 when `identity` has used up `limit`, counting nothing:
        for limits on outcomes (failed logins), counted with `count`."""
        self._guarded(limit, identity, count=False)

    def count(self, limit: str, *identity: str) -> None:
        """Count one hit against `limit` for `identity`, never refusing."""
        if not self._slowapi.enabled:
            return
        try:
            self._slowapi.limiter.hit(_parse_limit(limit), *identity)
        except Exception as exc:  # storage down: serve rather than refuse everyone
            log.warning("rate_limit_storage_error", error=type(exc).__name__)

    def _guarded(self, limit: str, identity: tuple[str, ...], *, count: bool) -> None:
        if not self._slowapi.enabled:
            return
        item = _parse_limit(limit)
        strategy = self._slowapi.limiter
        try:
            allowed = strategy.hit(item, *identity) if count else strategy.test(item, *identity)
            if allowed:
                return
            reset_at = strategy.get_window_stats(item, *identity).reset_time
        except Exception as exc:  # storage down: serve rather than refuse everyone
            log.warning("rate_limit_storage_error", error=type(exc).__name__)
            return
        raise TooManyRequests(retry_after=max(1, math.ceil(reset_at - time.time())))

    def check_client_and_account(
        self, action: str, request: Request, account: str, *, per_client: str, per_account: str
    ) -> None:
        """`action` (a login, a registration) limited per client address and
        per account, each on its own counter; the account by its digest."""
        self.check(per_client, f"{action}-ip", client_ip(request))
        self.check(per_account, f"{action}-account", account_key(account))

    def reset(self) -> None:
        self._slowapi.reset()
