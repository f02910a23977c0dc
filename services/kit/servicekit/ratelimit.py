"""Application rate limits on `limits`' asyncio API (memory or Redis storage).

`limits` is the library under slowapi; slowapi itself is synchronous only
(its issues 3 and 130), so behind async handlers every Redis round trip
would block the event loop. Routes `await limiter.check(limit, *identity)`
for the limits they need - per client IP, per account - rather than
decorating endpoints, so the limits come from settings and a storage outage
fails open instead of failing requests.

A request carrying the `RATE_LIMIT_EXEMPT_SECRET` in `X-RateLimit-Exempt`
(off unless that setting is set; `make bench` uses it for its own traffic)
meets no limit: `limiter_for` hands it a disabled limiter.
"""

import functools
import hashlib
import hmac
import math
import time
from collections.abc import Mapping

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from servicekit.errors import TooManyRequests
from servicekit.logs import get_logger

log = get_logger(__name__)

EXEMPT_HEADER = "X-RateLimit-Exempt"

# Limits come from settings (validated at start-up): parse each string once.
_parse_limit = functools.cache(parse)


def client_ip(request: Request) -> str:
    """The peer address, which uvicorn's proxy-headers support replaces with
    the forwarded client address only when the peer is a trusted gateway."""
    return request.client.host if request.client else "127.0.0.1"


def account_key(identifier: str) -> str:
    """Accounts are limited by a digest, so the store never holds emails.
    Callers pass the name their domain compares accounts by (the auth
    service: the email's comparison key), so look-alike spellings of one
    account share one counter; the lower-casing here only covers the rest."""
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()[:32]


def _async_storage(uri: str, options: Mapping[str, str]) -> Storage:
    """The asyncio storage for a `memory://` or `redis://...` URI (redis-py's
    asyncio client, which we already ship, rather than coredis)."""
    scheme = uri.split(":", 1)[0]
    extra = {"implementation": "redispy"} if scheme.startswith(("redis", "valkey")) else {}
    storage = storage_from_string(f"async+{uri}", **extra, **options)
    assert isinstance(storage, Storage)
    return storage


class RateLimiter:
    def __init__(
        self,
        storage_uri: str,
        *,
        enabled: bool = True,
        storage_options: Mapping[str, str] | None = None,
        exempt_secret: str | None = None,
    ) -> None:
        # A Redis password travels in `storage_options`, never in the URI.
        self.enabled = enabled
        self._storage = _async_storage(storage_uri, storage_options or {})
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._exempt_secret = exempt_secret.encode() if exempt_secret else None

    def exempts(self, request: Request) -> bool:
        """Whether `request` proves it carries the exemption secret."""
        if self._exempt_secret is None:
            return False
        offered = request.headers.get(EXEMPT_HEADER)
        return offered is not None and hmac.compare_digest(offered.encode(), self._exempt_secret)

    async def check(self, limit: str, *identity: str) -> None:
        """Count one hit against `limit` for `identity`; raise 429 when over."""
        await self._guarded(_parse_limit(limit), identity, count=True)

    async def refuse_if_over(self, limit: str, *identity: str) -> None:
        """Raise 429 when `identity` has used up `limit`, counting nothing:
        for limits on outcomes (failed logins), counted with `count`."""
        await self._guarded(_parse_limit(limit), identity, count=False)

    async def count(self, limit: str, *identity: str) -> None:
        """Count one hit against `limit` for `identity`, never refusing."""
        if not self.enabled:
            return
        try:
            await self._strategy.hit(_parse_limit(limit), *identity)
        except Exception as exc:  # storage down: serve rather than refuse everyone
            log.warning("rate_limit_storage_error", error=type(exc).__name__)

    async def _guarded(self, item: RateLimitItem, identity: tuple[str, ...], *, count: bool) -> None:
        if not self.enabled:
            return
        try:
            allowed = await (self._strategy.hit(item, *identity) if count else self._strategy.test(item, *identity))
            if allowed:
                return
            reset_at = (await self._strategy.get_window_stats(item, *identity)).reset_time
        except Exception as exc:  # storage down: serve rather than refuse everyone
            log.warning("rate_limit_storage_error", error=type(exc).__name__)
            return
        raise TooManyRequests(retry_after=max(1, math.ceil(reset_at - time.time())))

    async def check_client_and_account(
        self, action: str, request: Request, account: str, *, per_client: str, per_account: str
    ) -> None:
        """`action` (a login, a registration) limited per client address and
        per account, each on its own counter; the account by its digest."""
        await self.check(per_client, f"{action}-ip", client_ip(request))
        await self.check(per_account, f"{action}-account", account_key(account))

    async def reset(self) -> None:
        await self._storage.reset()


UNLIMITED = RateLimiter("memory://", enabled=False)


def limiter_for(request: Request, limiter: RateLimiter) -> RateLimiter:
    """`limiter`, or one that limits nothing for a request carrying the
    exemption secret."""
    return UNLIMITED if limiter.exempts(request) else limiter
